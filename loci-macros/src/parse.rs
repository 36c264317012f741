//! Phase 1: read the module's items and the `#[peer]` / `#[on]` attributes.

use syn::parse::Parse;
use syn::{Attribute, Ident, Item, ItemFn, ItemMod, ItemStruct};

use crate::Errors;

pub struct Module {
    pub attrs: Vec<Attribute>,
    pub vis: syn::Visibility,
    pub ident: Ident,
    pub peers: Vec<PeerDecl>,
    pub placed: Vec<PlacedDecl>,
    pub shared: Vec<Item>,
}

pub struct PeerDecl {
    /// The struct with `#[peer]` removed.
    pub item: ItemStruct,
    pub ties: Vec<TieDecl>,
    /// `back(next = prev)`: a connection on this peer's tie `next` is on the tied peer's tie
    /// `prev` at the other end.
    pub backs: Vec<(Ident, Ident)>,
    /// Its `#[peer(..)]` could not be read whole (reported already): ties may be missing.
    pub ties_lost: bool,
}

/// `Registry = Single`, or with a name, `next: Node = Single`.
pub struct TieDecl {
    pub name: Option<Ident>,
    pub peer: Ident,
    pub multiplicity: Ident,
}

impl syn::parse::Parse for TieDecl {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        let first: Ident = input.parse()?;
        let (name, peer) = if input.peek(syn::Token![:]) && !input.peek(syn::Token![::]) {
            input.parse::<syn::Token![:]>()?;
            (Some(first), input.parse::<Ident>()?)
        } else {
            (None, first)
        };
        if !input.peek(syn::Token![=]) {
            return Err(syn::Error::new(
                peer.span(),
                format!("a tie names a peer and its multiplicity: `{peer} = Single` (or `Optional`, `Multiple`), with an optional name in front: `next: {peer} = Single`"),
            ));
        }
        input.parse::<syn::Token![=]>()?;
        let multiplicity: Ident = input.parse()?;
        if !MULTIPLICITIES.iter().any(|m| multiplicity == m) {
            return Err(syn::Error::new(
                multiplicity.span(),
                format!("`{multiplicity}` is not a multiplicity; write `{peer} = Single`, `{peer} = Optional` or `{peer} = Multiple`"),
            ));
        }
        Ok(TieDecl { name, peer, multiplicity })
    }
}

pub struct PlacedDecl {
    /// The function with `#[on]`, `#[once]` and `#[lossy]` removed; an empty body when it had none.
    pub func: ItemFn,
    pub peer: Ident,
    /// Written without a body (`fn mode() -> Local<Mode>;`): supplied when the instance starts.
    pub bodiless: bool,
    /// Marked `#[once]`: a data value computed once per instance.
    pub once: Option<Attribute>,
    /// Marked `#[lossy]`: an event whose occurrences may be dropped for a slow subscriber.
    pub lossy: Option<Attribute>,
}

const MULTIPLICITIES: [&str; 3] = ["Single", "Optional", "Multiple"];

pub fn module(errors: &Errors, module: &ItemMod) -> Option<Module> {
    let Some((_, items)) = &module.content else {
        errors.spanned(module, "`#[multitier]` needs an inline module: `mod name { ... }`, not `mod name;`");
        return None;
    };
    let mut parsed = Module {
        attrs: module.attrs.clone(),
        vis: module.vis.clone(),
        ident: module.ident.clone(),
        peers: Vec::new(),
        placed: Vec::new(),
        shared: Vec::new(),
    };
    for item in items {
        match item {
            Item::Struct(item) if has_attr(&item.attrs, "peer") => {
                parsed.peers.push(peer(errors, item));
            }
            Item::Fn(func) if has_attr(&func.attrs, "on") => {
                if let Some(placed) = placed(errors, func) {
                    parsed.placed.push(placed);
                }
            }
            Item::Fn(func) => {
                unplaced_fn(errors, func);
                if let Some(attr) = func.attrs.iter().find(|attr| attr.path().is_ident("peer")) {
                    errors.spanned(attr, "`#[peer]` marks a unit struct: `#[peer] pub struct Node;`");
                }
                parsed.shared.push(item.clone());
            }
            Item::Verbatim(tokens) => match syn::parse2::<syn::ForeignItemFn>(tokens.clone()) {
                Ok(func) if has_attr(&func.attrs, "on") => {
                    let func = ItemFn {
                        attrs: func.attrs,
                        vis: func.vis,
                        sig: func.sig,
                        block: Box::new(syn::parse_quote!({})),
                    };
                    if let Some(mut placed) = placed(errors, &func) {
                        placed.bodiless = true;
                        parsed.placed.push(placed);
                    }
                }
                _ => parsed.shared.push(item.clone()),
            },
            other => {
                let mut other = other.clone();
                for attr in item_attrs_mut(&mut other).map_or(&[][..], |attrs| &attrs[..]) {
                    if attr.path().is_ident("on") {
                        errors.spanned(attr, "only functions can be placed with `#[on(..)]`; a placed value is a function returning it, e.g. `#[on(Node)] fn message() -> Event<String>`");
                    } else if attr.path().is_ident("peer") {
                        errors.spanned(attr, "`#[peer]` marks a unit struct: `#[peer] pub struct Node;`");
                    }
                }
                parsed.shared.push(other);
            }
        }
    }
    Some(parsed)
}

fn has_attr(attrs: &[Attribute], name: &str) -> bool {
    attrs.iter().any(|attr| attr.path().is_ident(name))
}

/// The attributes of an item other than a function or a struct, where it has them.
pub fn item_attrs_mut(item: &mut Item) -> Option<&mut Vec<Attribute>> {
    match item {
        Item::Const(i) => Some(&mut i.attrs),
        Item::Enum(i) => Some(&mut i.attrs),
        Item::Impl(i) => Some(&mut i.attrs),
        Item::Mod(i) => Some(&mut i.attrs),
        Item::Static(i) => Some(&mut i.attrs),
        Item::Struct(i) => Some(&mut i.attrs),
        Item::Trait(i) => Some(&mut i.attrs),
        Item::Type(i) => Some(&mut i.attrs),
        Item::Union(i) => Some(&mut i.attrs),
        Item::Use(i) => Some(&mut i.attrs),
        _ => None,
    }
}

/// A peer's declaration; one with a mistake is kept, so that the module's other uses of its
/// name are not reported as unknown peers too.
fn peer(errors: &Errors, item: &ItemStruct) -> PeerDecl {
    let mut item = item.clone();
    let attrs = std::mem::take(&mut item.attrs);
    let mut ties = Vec::new();
    let mut backs = Vec::new();
    let mut ties_lost = false;
    for attr in attrs {
        if attr.path().is_ident("on") {
            errors.spanned(
                &attr,
                "only functions can be placed with `#[on(..)]`, and a peer is not placed; remove `#[on(..)]`",
            );
            continue;
        }
        if !attr.path().is_ident("peer") {
            item.attrs.push(attr);
            continue;
        }
        if matches!(attr.meta, syn::Meta::Path(_)) {
            continue;
        }
        let mut backs_here = Vec::new();
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("back") {
                return meta.parse_nested_meta(|back| {
                    let tie = back.path.get_ident().cloned().ok_or_else(|| back.error("`back` pairs two tie names: `back(next = prev)`"))?;
                    let other: Ident = back.value()?.parse()?;
                    backs_here.push((tie, other));
                    Ok(())
                });
            }
            if !meta.path.is_ident("ties") {
                return Err(meta.error("unknown `#[peer]` option; write `#[peer(ties(Other = Single))]`, and for named ties `back(next = prev)`"));
            }
            let content;
            syn::parenthesized!(content in meta.input);
            let declared = content.parse_terminated(TieDecl::parse, syn::Token![,])?;
            ties.extend(declared);
            Ok(())
        });
        backs.extend(backs_here);
        if let Err(error) = parsed {
            errors.push(error);
            ties_lost = true;
        }
    }
    if !matches!(item.fields, syn::Fields::Unit) || !item.generics.params.is_empty() {
        errors.spanned(&item.ident, format!("a peer is a plain unit struct: `pub struct {};`", item.ident));
    }
    PeerDecl { item, ties, backs, ties_lost }
}

fn placed(errors: &Errors, func: &ItemFn) -> Option<PlacedDecl> {
    let mut func = func.clone();
    let attrs = std::mem::take(&mut func.attrs);
    let mut peers = Vec::new();
    let mut once = None;
    let mut lossy = None;
    for attr in attrs {
        if attr.path().is_ident("once") {
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                errors.spanned(&attr, "`#[once]` takes no arguments");
            }
            once = Some(attr);
            continue;
        }
        if attr.path().is_ident("peer") {
            errors.spanned(&attr, "`#[peer]` marks a unit struct: `#[peer] pub struct Node;`");
            continue;
        }
        if attr.path().is_ident("lossy") {
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                errors.spanned(&attr, "`#[lossy]` takes no arguments");
            }
            lossy = Some(attr);
            continue;
        }
        if !attr.path().is_ident("on") {
            func.attrs.push(attr);
            continue;
        }
        match attr.parse_args::<Ident>() {
            Ok(peer) => peers.push((peer, attr)),
            Err(_) => errors.spanned(&attr, "`#[on(..)]` names the one peer the item is placed on, e.g. `#[on(Node)]`"),
        }
    }
    if peers.len() > 1 {
        errors.spanned(&peers[1].1, format!("`{}` is placed twice; an item lives on exactly one peer", func.sig.ident));
        return None;
    }
    let (peer, _) = peers.into_iter().next()?;
    Some(PlacedDecl { func, peer, bodiless: false, once, lossy })
}

/// A function without `#[on]` is shared code (a helper may take `&Here<P>`), unless it is a
/// `main` or marked `#[once]`, which only make sense placed.
fn unplaced_fn(errors: &Errors, func: &ItemFn) {
    let name = &func.sig.ident;
    if name == "main" {
        errors.spanned(name, "`main` has no placement: say whose `main` it is with `#[on(Peer)]`");
    }
    if let Some(lossy) = func.attrs.iter().find(|attr| attr.path().is_ident("lossy")) {
        errors.spanned(
            lossy,
            format!("`#[lossy]` marks a placed event; say where `{name}` lives with `#[on(Peer)]` next to it"),
        );
    }
    if let Some(once) = func.attrs.iter().find(|attr| attr.path().is_ident("once")) {
        errors.spanned(
            once,
            format!("`#[once]` marks a placed data value; say where `{name}` lives with `#[on(Peer)]` next to it"),
        );
    }
}
