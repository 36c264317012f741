//! Phase 2: what each declaration means: peers with resolved ties, and placed items with
//! their kind (event value, function, `main`) and signature split into context and arguments.

use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::parse::{self, PeerDecl, PlacedDecl};
use crate::Errors;

pub struct Model {
    pub attrs: Vec<syn::Attribute>,
    pub vis: syn::Visibility,
    pub ident: Ident,
    pub peers: Vec<Peer>,
    pub items: Vec<Placed>,
    pub mains: Vec<Main>,
    pub shared: Vec<syn::Item>,
}

pub struct Peer {
    pub decl: syn::ItemStruct,
    pub ties: Vec<Tie>,
}

impl Peer {
    pub fn ident(&self) -> &Ident {
        &self.decl.ident
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Multiplicity {
    Single,
    Optional,
    Multiple,
}

impl Multiplicity {
    pub fn name(self) -> &'static str {
        match self {
            Multiplicity::Single => "Single",
            Multiplicity::Optional => "Optional",
            Multiplicity::Multiple => "Multiple",
        }
    }
}

pub struct Tie {
    pub peer: Ident,
    pub multiplicity: Multiplicity,
    /// The multiplicity as written, for spans.
    pub written: Ident,
}

/// The `ctx: &Here<P>` parameter of a placed function.
pub struct Context {
    pub peer: Ident,
    pub by_ref: bool,
    pub ty: Type,
}

pub enum Kind {
    /// `fn name() -> Event<Item>`: a value created once per instance.
    Event { item: Box<Type> },
    /// `fn name() -> Signal<Item>` or `-> Var<Item>`: a value created once per instance.
    Signal { item: Box<Type> },
    /// Any other placed function: run for every access.
    Function,
}

/// The `requester: &Remote<Q>` parameter of a subjective value.
pub struct PerRemote {
    pub peer: Ident,
    pub by_ref: bool,
}

pub struct Placed {
    pub func: ItemFn,
    pub peer: Ident,
    pub kind: Kind,
    /// Set for a subjective value: computed per subscribing remote of this peer.
    pub per_remote: Option<PerRemote>,
    pub context: Option<Context>,
    /// The transmitted parameters (everything but the context).
    pub params: Vec<(Pat, Type)>,
    pub output: Type,
}

impl Placed {
    pub fn ident(&self) -> &Ident {
        &self.func.sig.ident
    }

    pub fn is_async(&self) -> bool {
        self.func.sig.asyncness.is_some()
    }
}

pub struct Main {
    pub func: ItemFn,
    pub peer: Ident,
    pub context: Option<Context>,
}

pub fn build(errors: &Errors, ast: parse::Module) -> Model {
    let peers = ast.peers.into_iter().map(peer).collect();
    let mut items = Vec::new();
    let mut mains = Vec::new();
    for decl in ast.placed {
        if decl.func.sig.ident == "main" {
            let context = signature(errors, &decl.func).0;
            mains.push(Main { func: decl.func, peer: decl.peer, context });
        } else if let Some(item) = placed(errors, decl) {
            items.push(item);
        }
    }
    Model { attrs: ast.attrs, vis: ast.vis, ident: ast.ident, peers, items, mains, shared: ast.shared }
}

fn peer(decl: PeerDecl) -> Peer {
    let ties = decl
        .ties
        .into_iter()
        .map(|tie| {
            let multiplicity = match tie.multiplicity.to_string().as_str() {
                "Single" => Multiplicity::Single,
                "Optional" => Multiplicity::Optional,
                _ => Multiplicity::Multiple,
            };
            Tie { peer: tie.peer, multiplicity, written: tie.multiplicity }
        })
        .collect();
    Peer { decl: decl.item, ties }
}

/// The peer `P` of a `Wrapper<P>` or `&Wrapper<P>` type, and whether it is a reference.
fn peer_argument(ty: &Type, wrapper: &str) -> Option<(Ident, bool)> {
    let (inner, by_ref) = match ty {
        Type::Reference(reference) => (&*reference.elem, true),
        other => (other, false),
    };
    let Type::Path(path) = inner else { return None };
    let last = path.path.segments.last()?;
    if last.ident != wrapper {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first()? {
        syn::GenericArgument::Type(Type::Path(peer)) => Some((peer.path.get_ident()?.clone(), by_ref)),
        _ => None,
    }
}

/// The peer `P` of a `Here<P>` or `&Here<P>` type.
pub fn here_peer(ty: &Type) -> Option<Ident> {
    peer_argument(ty, "Here").map(|(peer, _)| peer)
}

/// The `T` of a reactive return type named one of `names` (`Event<T>`, `Signal<T>`, `Var<T>`).
fn reactive_item(ty: &Type, names: &[&str]) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if !names.iter().any(|name| last.ident == name) {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first()? {
        syn::GenericArgument::Type(item) if args.args.len() == 1 => Some(item.clone()),
        _ => None,
    }
}

/// Splits a signature into its optional leading context and its transmitted parameters.
fn signature(errors: &Errors, func: &ItemFn) -> (Option<Context>, Vec<(Pat, Type)>) {
    let name = &func.sig.ident;
    if !func.sig.generics.params.is_empty() {
        errors.spanned(
            &func.sig.generics,
            format!("placed function `{name}` cannot be generic: every peer must agree on its types"),
        );
    }
    let mut context = None;
    let mut params = Vec::new();
    for (index, input) in func.sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(receiver) => errors.spanned(receiver, "placed functions are free functions; remove `self`"),
            FnArg::Typed(arg) => match here_peer(&arg.ty) {
                Some(peer) if index == 0 => {
                    context =
                        Some(Context { peer, by_ref: matches!(*arg.ty, Type::Reference(_)), ty: (*arg.ty).clone() })
                }
                Some(_) => errors.spanned(&arg.ty, "the `Here<..>` context must be the first parameter"),
                None => params.push(((*arg.pat).clone(), (*arg.ty).clone())),
            },
        }
    }
    (context, params)
}

fn placed(errors: &Errors, decl: PlacedDecl) -> Option<Placed> {
    let (context, params) = signature(errors, &decl.func);
    let output = match &decl.func.sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let name = &decl.func.sig.ident;
    let event = reactive_item(&output, &["Event"]);
    let signal = reactive_item(&output, &["Signal", "Var"]);
    let mut per_remote = None;
    let mut params = params;
    if event.is_some() {
        if let [(_, ty)] = params.as_slice() {
            per_remote = remote_peer(ty);
            if per_remote.is_some() {
                params.clear();
            }
        }
    }
    if event.is_some() || signal.is_some() {
        let reactive = if event.is_some() { "an `Event`" } else { "a signal" };
        if let Some((pat, _)) = params.first() {
            errors.spanned(pat, format!("`{name}` returns {reactive}, so it is a placed value created once per instance; it takes no arguments besides its `Here<..>` context (and, for an `Event` computed per remote, one `requester: &Remote<Peer>`)"));
        }
        if let Some(asyncness) = &decl.func.sig.asyncness {
            errors.spanned(asyncness, format!("`{name}` returns {reactive}, so it is a placed value created when the instance starts; make it a plain `fn`"));
        }
    }
    let kind = match (event, signal) {
        (Some(item), _) => Kind::Event { item: Box::new(item) },
        (None, Some(item)) => Kind::Signal { item: Box::new(item) },
        (None, None) => Kind::Function,
    };
    Some(Placed { func: decl.func, peer: decl.peer, kind, per_remote, context, params, output })
}

/// The peer `Q` of a `Remote<Q>` or `&Remote<Q>` parameter type.
fn remote_peer(ty: &Type) -> Option<PerRemote> {
    peer_argument(ty, "Remote").map(|(peer, by_ref)| PerRemote { peer, by_ref })
}

/// The peer of the first `Here<..>` parameter of a signature, if any.
pub fn here_peer_in(sig: &syn::Signature) -> Option<Ident> {
    sig.inputs.iter().find_map(|input| match input {
        FnArg::Typed(arg) => here_peer(&arg.ty),
        FnArg::Receiver(_) => None,
    })
}
