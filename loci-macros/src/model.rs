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
    /// The placed items as written, then the remote blocks lifted out of their code.
    pub items: Vec<Placed>,
    pub mains: Vec<Main>,
    pub shared: Vec<syn::Item>,
    /// Where each remote block was written, for the checks (filled by `lift`).
    pub blocks: Vec<BlockSite>,
    /// Every spore of the module (filled by `lift`).
    pub spores: Vec<Spore>,
}

/// A value a remote block or a spore captures: it travels by value.
#[derive(Clone)]
pub struct Capture {
    pub ident: Ident,
    /// The type as written in the capture list or where the variable is bound, spanned at the
    /// capture so that an error about it points there.
    pub ty: Type,
}

/// How lifted code used names of the code around it.
#[derive(Default)]
pub struct Outside {
    /// Local variables of the enclosing code used without being captured.
    pub uncaptured: Vec<Ident>,
    /// Uses of the enclosing code's context, which belongs to another instance.
    pub context: Vec<Ident>,
    /// The enclosing context's peer, for messages.
    pub context_peer: Option<Ident>,
}

/// A remote block: lifted into `items[item]`, a placed function of the target peer.
pub struct BlockSite {
    pub item: usize,
    /// The peer of the code the block is written in.
    pub caller: Ident,
    /// The function (or `main`) the block is written in.
    pub owner: Ident,
    pub outside: Outside,
}

/// A spore: a function value, lifted into a function of the peers it runs on.
pub struct Spore {
    pub id: u16,
    /// The function, named `__loci_spore_N`: context (if any), captures, then the input.
    pub func: ItemFn,
    /// The peer it runs on, when it takes that peer's context; `None`: any peer.
    pub peer: Option<Ident>,
    pub context: Option<Context>,
    pub captures: Vec<Capture>,
    pub input: Type,
    pub output: Type,
    pub owner: Ident,
    pub outside: Outside,
}

pub struct Peer {
    pub decl: syn::ItemStruct,
    pub ties: Vec<Tie>,
    /// `back(next = prev)` as written.
    pub backs: Vec<(Ident, Ident)>,
    /// Its `#[peer(..)]` could not be read whole (reported already), so ties may be missing:
    /// the checks that a missing tie would fail are skipped for it.
    pub ties_lost: bool,
}

impl Peer {
    pub fn ident(&self) -> &Ident {
        &self.decl.ident
    }

    /// The index of the tie `name` stands for in `back(..)`: a named tie by its name, a tie
    /// without one by its peer's name.
    pub fn tie_called(&self, name: &Ident) -> Option<usize> {
        self.ties
            .iter()
            .position(|tie| tie.name.as_ref() == Some(name))
            .or_else(|| self.ties.iter().position(|tie| tie.name.is_none() && &tie.peer == name))
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
    /// `next` in `next: Node = Single`.
    pub name: Option<Ident>,
    pub peer: Ident,
    pub multiplicity: Multiplicity,
    /// The multiplicity as written, for spans.
    pub written: Ident,
    /// The tie back: the index of the tie, among the tied peer's ties, that a connection on
    /// this one is on at the other end; `None` when it cannot be told (reported by `check`).
    pub back: Option<usize>,
}

impl Tie {
    /// How the tie is named in messages: `next` or `Registry`.
    pub fn label(&self) -> String {
        self.name.as_ref().unwrap_or(&self.peer).to_string()
    }
}

/// The `ctx: &Here<P>` parameter of a placed function.
pub struct Context {
    pub peer: Ident,
    pub by_ref: bool,
    pub ty: Type,
}

pub enum Kind {
    /// `fn name() -> Event<Item>`: a value created once per instance.
    /// `lossy` when marked `#[lossy]`: occurrences may be dropped for a slow subscriber.
    Event { item: Box<Type>, lossy: bool },
    /// `fn name() -> Signal<Item>` or `-> Var<Item>`: a value created once per instance.
    Signal { item: Box<Type> },
    /// Any other placed function: run for every access.
    Function,
    /// `fn name() -> Local<Item>`: state created once per instance that never leaves it;
    /// `supplied` when written without a body, so its value comes from the builder.
    Local { item: Box<Type>, supplied: bool },
    /// `#[once] fn name() -> T`: a data value computed once per instance, read remotely like
    /// a function without arguments.
    Once,
    /// A remote block lifted out of code placed on another peer: a function of this peer whose
    /// arguments are the block's captures.
    /// Only the peer of the code it is written in (`caller`) may run it.
    Block { captures: Vec<Capture>, caller: Ident },
}

/// The `requester: &Remote<Q>` parameter of a subjective value or of a function or signal
/// that knows its caller.
pub struct Requester {
    pub peer: Ident,
    pub by_ref: bool,
    /// The parameter's type, for spans.
    pub ty: Type,
}

pub struct Placed {
    pub func: ItemFn,
    pub peer: Ident,
    pub kind: Kind,
    /// Set when the item takes the requesting remote: only peer `Q` may reach it, and a
    /// reactive is computed per subscribing remote.
    pub requester: Option<Requester>,
    pub context: Option<Context>,
    /// The transmitted parameters (everything but the context and the requester).
    pub params: Vec<(Pat, Type)>,
    pub output: Type,
    /// The name remotes and errors show, when it is not the function's (lifted blocks).
    pub label: Option<String>,
}

impl Placed {
    pub fn ident(&self) -> &Ident {
        &self.func.sig.ident
    }

    /// The name remotes and errors show.
    pub fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.ident().to_string())
    }

    pub fn is_async(&self) -> bool {
        self.func.sig.asyncness.is_some()
    }

    /// Whether the item holds one value per instance, created when the instance starts.
    pub fn is_instance_value(&self) -> bool {
        self.requester.is_none() && !matches!(self.kind, Kind::Function | Kind::Block { .. })
    }

    /// Whether the item was written by the user (not lifted out of other code).
    pub fn is_written(&self) -> bool {
        !matches!(self.kind, Kind::Block { .. })
    }
}

pub struct Main {
    pub func: ItemFn,
    pub peer: Ident,
    pub context: Option<Context>,
}

pub fn build(errors: &Errors, ast: parse::Module) -> Model {
    let mut peers: Vec<Peer> = ast.peers.into_iter().map(peer).collect();
    resolve_backs(&mut peers);
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
    Model {
        attrs: ast.attrs,
        vis: ast.vis,
        ident: ast.ident,
        peers,
        items,
        mains,
        shared: ast.shared,
        blocks: Vec::new(),
        spores: Vec::new(),
    }
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
            Tie { name: tie.name, peer: tie.peer, multiplicity, written: tie.multiplicity, back: None }
        })
        .collect();
    Peer { decl: decl.item, ties, backs: decl.backs, ties_lost: decl.ties_lost }
}

/// Finds each tie's tie back. For tie `t` from `A` to `B`: the tie `A` names in `back(t = u)`;
/// else the tie `u` of `B` that `B` pairs with `t` in `back(u = t)`; else `B`'s only tie to
/// `A`. Pairs go both ways, so `back(next = prev)` on a ring's `Node` also makes `next` the
/// tie back of `prev`.
fn resolve_backs(peers: &mut [Peer]) {
    let mut found = Vec::new();
    for (from, peer) in peers.iter().enumerate() {
        for (index, tie) in peer.ties.iter().enumerate() {
            let Some(other) = peers.iter().find(|p| p.ident() == &tie.peer) else { continue };
            let label = tie.name.as_ref().unwrap_or(&tie.peer);
            let towards_us = |candidate: usize| other.ties.get(candidate).is_some_and(|t| &t.peer == peer.ident());
            let declared_here = peer
                .backs
                .iter()
                .find(|(ours, _)| ours == label)
                .and_then(|(_, theirs)| other.tie_called(theirs))
                .filter(|back| towards_us(*back));
            let declared_there = other
                .backs
                .iter()
                .filter(|(_, ours)| ours == label)
                .filter_map(|(theirs, _)| other.tie_called(theirs))
                .find(|back| towards_us(*back));
            let only: Vec<usize> = (0..other.ties.len()).filter(|candidate| towards_us(*candidate)).collect();
            let back = declared_here.or(declared_there).or(match only.as_slice() {
                [only] => Some(*only),
                _ => None,
            });
            found.push((from, index, back));
        }
    }
    for (from, index, back) in found {
        peers[from].ties[index].back = back;
    }
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

/// The `ctx: &Here<P>` parameter, if `ty` is such a context type.
pub fn context_of(ty: &Type) -> Option<Context> {
    peer_argument(ty, "Here").map(|(peer, by_ref)| Context { peer, by_ref, ty: ty.clone() })
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
            FnArg::Typed(arg) => {
                match here_peer(&arg.ty) {
                    Some(peer) if index == 0 => {
                        context =
                            Some(Context { peer, by_ref: matches!(*arg.ty, Type::Reference(_)), ty: (*arg.ty).clone() })
                    }
                    Some(_) => {
                        let (pat, name) = (&arg.pat, &func.sig.ident);
                        errors.spanned(
                        arg,
                        format!("the `Here<..>` context must be the first parameter of `{name}`: move `{}` to the front", quote::quote!(#pat)),
                    );
                    }
                    None => params.push(((*arg.pat).clone(), (*arg.ty).clone())),
                }
            }
        }
    }
    (context, params)
}

fn placed(errors: &Errors, decl: PlacedDecl) -> Option<Placed> {
    let (context, mut params) = signature(errors, &decl.func);
    let output = match &decl.func.sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let name = &decl.func.sig.ident;
    let event = reactive_item(&output, &["Event"]);
    let signal = reactive_item(&output, &["Signal", "Var"]);
    let local = reactive_item(&output, &["Local"]);
    // The requesting remote comes first after the context, by reference (`&Remote<Q>`); a
    // `Remote<Q>` by value is an argument like any other (remotes can travel).
    let requester = params.first().and_then(|(_, ty)| remote_peer(ty)).filter(|requester| requester.by_ref);
    if requester.is_some() {
        params.remove(0);
    }
    let sig = &decl.func.sig;
    if decl.bodiless && (local.is_none() || context.is_some() || !params.is_empty() || requester.is_some()) {
        errors.spanned(
            &sig.ident,
            format!("`{name}` has no body, so its value is supplied when the instance starts; such an item is written `fn {name}() -> Local<T>;` and the value comes from `Builder::supply({name}, value)`"),
        );
        return None;
    }
    if let (Some(lossy), None) = (&decl.lossy, &event) {
        errors.spanned(
            lossy,
            format!("`#[lossy]` marks a placed event whose occurrences may be dropped for a slow subscriber, but `{name}` does not return an `Event`; remove `#[lossy]` (signals always skip to the latest value)"),
        );
    }
    let kind = if let Some(once) = &decl.once {
        if event.is_some() || signal.is_some() || local.is_some() {
            errors.spanned(once, format!("`{name}` returns a reactive or `Local` value, which is created once per instance anyway; remove `#[once]`"));
        }
        Kind::Once
    } else if let Some(item) = event {
        Kind::Event { item: Box::new(item), lossy: decl.lossy.is_some() }
    } else if let Some(item) = signal {
        Kind::Signal { item: Box::new(item) }
    } else if let Some(item) = local {
        Kind::Local { item: Box::new(item), supplied: decl.bodiless }
    } else {
        Kind::Function
    };
    let what = match kind {
        Kind::Event { .. } => Some("returns an `Event`, so it is a placed value created once per instance"),
        Kind::Signal { .. } => Some("returns a signal, so it is a placed value created once per instance"),
        Kind::Local { .. } => Some("returns `Local<..>`, so it is local state created once per instance"),
        Kind::Once => Some("is marked `#[once]`, so it is a data value computed once per instance"),
        Kind::Function | Kind::Block { .. } => None,
    };
    if let Some(what) = what {
        let reactive = matches!(kind, Kind::Event { .. } | Kind::Signal { .. });
        if let Some((pat, _)) = params.first() {
            let requester_note =
                if reactive { " (and, to compute it per reading remote, one `requester: &Remote<Peer>`)" } else { "" };
            errors.spanned(
                pat,
                format!("`{name}` {what}; it takes no arguments besides its `Here<..>` context{requester_note}"),
            );
        }
        if let (Some(requester), false) = (&requester, reactive) {
            errors.spanned(
                &requester.ty,
                format!("`{name}` {what}, one for every caller alike; it cannot take the requesting remote"),
            );
        }
        if let Some(asyncness) = &sig.asyncness {
            errors.spanned(asyncness, format!("`{name}` {what} when the instance starts; make it a plain `fn`"));
        }
    }
    Some(Placed { func: decl.func, peer: decl.peer, kind, requester, context, params, output, label: None })
}

/// The peer `Q` of a `Remote<Q>` or `&Remote<Q>` parameter type.
fn remote_peer(ty: &Type) -> Option<Requester> {
    peer_argument(ty, "Remote").map(|(peer, by_ref)| Requester { peer, by_ref, ty: ty.clone() })
}

/// The peer of the first `Here<..>` parameter of a signature, if any.
pub fn here_peer_in(sig: &syn::Signature) -> Option<Ident> {
    sig.inputs.iter().find_map(|input| match input {
        FnArg::Typed(arg) => here_peer(&arg.ty),
        FnArg::Receiver(_) => None,
    })
}
