//! Phase 3: validate the architecture the module describes (here), and the code in its
//! function bodies ([`bodies`]).

use std::collections::HashMap;

use syn::Ident;

use crate::model::{Context, Model, Multiplicity};
use crate::Errors;

mod bodies;

pub fn module(errors: &Errors, model: &Model) {
    names(errors, model);
    ties(errors, model);
    conflicting_backs(errors, model);
    placements(errors, model);
    mains(errors, model);
    bodies::bodies(errors, model);
    bodies::lifted(errors, model);
}

fn peer_list(model: &Model) -> String {
    model.peers.iter().map(|p| format!("`{}`", p.ident())).collect::<Vec<_>>().join(", ")
}

fn unknown_peer(errors: &Errors, model: &Model, ident: &Ident, role: &str) {
    if imported(model, ident) {
        errors.spanned(
            ident,
            format!("`{ident}` is imported into this module, but peers must be declared in the multitier module itself: move `#[peer] pub struct {ident};` into `mod {}`", model.ident),
        );
        return;
    }
    let names = model.peers.iter().map(|p| p.ident().to_string());
    let known = match did_you_mean(&ident.to_string(), names) {
        Some(close) => format!("did you mean `{close}`? The peers of this module are {}", peer_list(model)),
        None if model.peers.is_empty() => {
            "the module declares no peers; declare one with `#[peer] pub struct Name;`".to_owned()
        }
        None => format!("the peers of this module are {}", peer_list(model)),
    };
    errors.spanned(ident, format!("unknown peer `{ident}` {role}; {known}"));
}

/// Whether a `use` item of the module brings `ident` into scope.
fn imported(model: &Model, ident: &Ident) -> bool {
    fn names(tree: &syn::UseTree, ident: &Ident) -> bool {
        match tree {
            syn::UseTree::Path(path) => names(&path.tree, ident),
            syn::UseTree::Name(name) => &name.ident == ident,
            syn::UseTree::Rename(rename) => &rename.rename == ident,
            syn::UseTree::Group(group) => group.items.iter().any(|tree| names(tree, ident)),
            syn::UseTree::Glob(_) => false,
        }
    }
    model.shared.iter().any(|item| matches!(item, syn::Item::Use(item) if names(&item.tree, ident)))
}

/// The known name closest to `unknown`, if one is close enough to be a typo of it.
pub fn did_you_mean(unknown: &str, known: impl Iterator<Item = String>) -> Option<String> {
    let unknown_lower = unknown.to_lowercase();
    known
        .map(|name| (strsim::damerau_levenshtein(&unknown_lower, &name.to_lowercase()), name))
        .filter(|(distance, name)| *distance <= (name.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

fn is_peer(model: &Model, ident: &Ident) -> bool {
    model.peers.iter().any(|p| p.ident() == ident)
}

fn names(errors: &Errors, model: &Model) {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for item in &model.shared {
        if let syn::Item::Fn(func) = item {
            let name = func.sig.ident.to_string();
            if name.starts_with("__loci") {
                errors.spanned(&func.sig.ident, format!("`{name}` is reserved for names loci generates; rename it"));
            }
        }
    }
    // A tie's name becomes a function of the module, like a placed item's.
    let functions: Vec<(&Ident, &str)> = model
        .items
        .iter()
        .filter(|item| item.is_written())
        .map(|item| (item.ident(), "placed item"))
        .chain(model.shared.iter().filter_map(|item| match item {
            syn::Item::Fn(func) => Some((&func.sig.ident, "function")),
            _ => None,
        }))
        .collect();
    for tie in model.peers.iter().flat_map(|peer| &peer.ties) {
        let Some(name) = &tie.name else { continue };
        if let Some((_, what)) = functions.iter().find(|(ident, _)| *ident == name) {
            errors.spanned(
                name,
                format!("the tie name `{name}` is also the name of a {what} of this module; a tie's name is how code chooses the tie (`.over({name})`), so give the tie or the {what} another name"),
            );
        }
    }
    let written = model.items.iter().filter(|item| item.is_written());
    let declared = model.peers.iter().map(|p| (p.ident(), "peer")).chain(written.map(|i| (i.ident(), "placed item")));
    for (ident, what) in declared {
        let name = ident.to_string();
        if name.starts_with("__Loci") || name.starts_with("__loci") {
            errors.spanned(ident, format!("`{name}` is reserved for names loci generates; rename it"));
        }
        match seen.get(&name) {
            Some(first) => errors.spanned(ident, format!("the name `{name}` is declared twice in this module (first as a {first}); every peer and placed item needs its own name")),
            None => {
                seen.insert(name, what);
            }
        }
    }
}

fn ties(errors: &Errors, model: &Model) {
    // A peer whose ties were not read whole is reported already: checking its ties, or ties
    // back to it, would report what follows from that one mistake.
    for peer in model.peers.iter().filter(|peer| !peer.ties_lost) {
        let mut unnamed: Vec<&Ident> = Vec::new();
        let mut named: Vec<&Ident> = Vec::new();
        for tie in &peer.ties {
            if !is_peer(model, &tie.peer) {
                unknown_peer(errors, model, &tie.peer, &format!("in the ties of `{}`", peer.ident()));
                continue;
            }
            let several = peer.ties.iter().filter(|t| t.peer == tie.peer).count() > 1;
            match &tie.name {
                Some(name) if named.contains(&name) => {
                    errors.spanned(
                        name,
                        format!("`{}` has two ties called `{name}`; give each tie its own name", peer.ident()),
                    );
                    continue;
                }
                Some(name) => named.push(name),
                None if several => {
                    let hint = if &tie.peer == peer.ident() {
                        format!("`prev: {0} = Single, next: {0} = Single`", tie.peer)
                    } else {
                        format!("`primary: {0} = Single, backup: {0} = Optional`", tie.peer)
                    };
                    if !unnamed.contains(&&tie.peer) {
                        errors.spanned(
                            &tie.peer,
                            format!(
                                "`{}` is tied to `{}` more than once; keep one tie, or give each a name so that code can say which one it means, e.g. {hint}",
                                peer.ident(),
                                tie.peer
                            ),
                        );
                    }
                    unnamed.push(&tie.peer);
                    continue;
                }
                None => unnamed.push(&tie.peer),
            }
            let Some(other) = model.peers.iter().find(|p| p.ident() == &tie.peer && !p.ties_lost) else { continue };
            // A tie of the other peer that names an unknown peer is probably the missing one, misspelt.
            let misspelt = other.ties.iter().any(|t| !is_peer(model, &t.peer));
            let backs: Vec<String> =
                other.ties.iter().filter(|t| &t.peer == peer.ident()).map(|t| format!("`{}`", t.label())).collect();
            if !misspelt && backs.is_empty() {
                let hint = if tie.multiplicity == Multiplicity::Multiple { "Single" } else { "Multiple" };
                errors.spanned(
                    &tie.written,
                    format!(
                        "`{}` ties to `{}`, but `{}` has no tie back to `{}`; a connection needs both ends: add `{} = {hint}` (or the multiplicity you mean) to the ties of `{}`",
                        peer.ident(), tie.peer, tie.peer, peer.ident(), peer.ident(), tie.peer
                    ),
                );
            } else if !misspelt && tie.back.is_none() && !named_in_a_back(peer, other, tie) {
                let label = tie.label();
                // Suggest another tie than this one for a tie to the own kind (`prev` for `next`).
                let suggestion = other
                    .ties
                    .iter()
                    .filter(|t| &t.peer == peer.ident())
                    .map(|t| t.label())
                    .find(|candidate| other.ident() != peer.ident() || *candidate != label)
                    .unwrap_or_else(|| label.clone());
                errors.spanned(
                    tie.name.as_ref().unwrap_or(&tie.peer),
                    format!(
                        "a connection on the tie `{label}` of `{}` needs a tie back at the `{}` end, but `{}` has {} ties to `{}` ({}); say which with `back({label} = {})` next to `ties(..)`",
                        peer.ident(),
                        tie.peer,
                        tie.peer,
                        backs.len(),
                        peer.ident(),
                        backs.join(", "),
                        suggestion
                    ),
                );
            }
        }
        for (ours, theirs) in &peer.backs {
            let Some(index) = peer.tie_called(ours) else {
                let names: Vec<String> = peer.ties.iter().map(|t| format!("`{}`", t.label())).collect();
                errors.spanned(
                    ours,
                    format!(
                        "`back({ours} = {theirs})`: `{}` has no tie called `{ours}` (its ties: {})",
                        peer.ident(),
                        if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                    ),
                );
                continue;
            };
            let to = &peer.ties[index].peer;
            let Some(other) = model.peers.iter().find(|p| p.ident() == to && !p.ties_lost) else { continue };
            let fits = other.tie_called(theirs).is_some_and(|back| &other.ties[back].peer == peer.ident());
            if !fits {
                let names: Vec<String> =
                    other.ties.iter().filter(|t| &t.peer == peer.ident()).map(|t| format!("`{}`", t.label())).collect();
                errors.spanned(
                    theirs,
                    format!(
                        "`back({ours} = {theirs})`: `{to}` has no tie `{theirs}` to `{}`; its ties to `{}`: {}",
                        peer.ident(),
                        peer.ident(),
                        if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                    ),
                );
            }
        }
    }
}

/// Whether a `back(..)` of `peer` or of `other` names `tie` (of `peer`, to `other`), or one
/// between the two is wrong: then the tie may be left without a tie back only because of that
/// declaration, which is what gets reported (one mistake, one error).
fn named_in_a_back(peer: &crate::model::Peer, other: &crate::model::Peer, tie: &crate::model::Tie) -> bool {
    let label = tie.name.as_ref().unwrap_or(&tie.peer);
    let wrong = |from: &crate::model::Peer, to: &crate::model::Peer| {
        from.backs.iter().any(|(ours, theirs)| match from.tie_called(ours) {
            None => true,
            Some(index) => {
                &from.ties[index].peer == to.ident()
                    && to.tie_called(theirs).is_none_or(|back| &to.ties[back].peer != from.ident())
            }
        })
    };
    peer.backs.iter().any(|(ours, _)| ours == label)
        || other.backs.iter().any(|(_, theirs)| theirs == label)
        || wrong(peer, other)
        || wrong(other, peer)
}

/// `back(t = u)` on one peer and `back(u = s)` (or `back(x = t)`) on the other pair a tie with
/// two others: report it once per pair of peers.
fn conflicting_backs(errors: &Errors, model: &Model) {
    let mut reported: Vec<(String, String)> = Vec::new();
    for peer in model.peers.iter().filter(|peer| !peer.ties_lost) {
        for (ours, theirs) in &peer.backs {
            let Some(index) = peer.tie_called(ours) else { continue };
            let Some(other) = model.peers.iter().find(|p| p.ident() == &peer.ties[index].peer && !p.ties_lost) else {
                continue;
            };
            for (their_tie, their_back) in &other.backs {
                let clash = (their_tie == theirs && their_back != ours) || (their_back == ours && their_tie != theirs);
                // A ring's one declaration seen from both ends is the same pair.
                let same = std::ptr::eq(peer, other) && their_tie == ours && their_back == theirs;
                if !clash || same {
                    continue;
                }
                // One error per pair of peers: the pairings between them disagree.
                let key = {
                    let (a, b) = (peer.ident().to_string(), other.ident().to_string());
                    if a < b {
                        (a, b)
                    } else {
                        (b, a)
                    }
                };
                if reported.contains(&key) {
                    continue;
                }
                reported.push(key);
                errors.spanned(
                    their_back,
                    format!(
                        "`back({their_tie} = {their_back})` on `{}` and `back({ours} = {theirs})` on `{}` pair a tie with two different ties; a connection has one tie at each end, so keep one of the two pairings",
                        other.ident(),
                        peer.ident()
                    ),
                );
            }
        }
    }
}

fn context_peer(errors: &Errors, context: &Option<Context>, peer: &Ident, item: &Ident) {
    if let Some(context) = context {
        if &context.peer != peer {
            let written = if context.by_ref { format!("&Here<{peer}>") } else { format!("Here<{peer}>") };
            errors.spanned(
                &context.ty,
                format!("`{item}` is placed on `{peer}`, so its context is `{written}`, not `Here<{}>`", context.peer),
            );
        }
    }
}

fn placements(errors: &Errors, model: &Model) {
    for item in &model.items {
        if !is_peer(model, &item.peer) {
            unknown_peer(errors, model, &item.peer, &format!("in the placement of `{}`", item.ident()));
            continue;
        }
        context_peer(errors, &item.context, &item.peer, item.ident());
        if let Some(requester) = &item.requester {
            if !is_peer(model, &requester.peer) {
                unknown_peer(errors, model, &requester.peer, &format!("in the requester of `{}`", item.ident()));
            } else if !model
                .peers
                .iter()
                .find(|p| p.ident() == &requester.peer)
                // A peer whose ties were not read whole is reported already.
                .is_some_and(|p| p.ties_lost || p.ties.iter().any(|t| t.peer == item.peer))
            {
                let (name, placed_on, q) = (item.ident(), &item.peer, &requester.peer);
                errors.spanned(
                    &requester.ty,
                    format!("`{name}` takes the requesting `Remote<{q}>`, so only `{q}` may reach it, but `{q}` has no tie to `{placed_on}`; add `{placed_on} = Single` (or `Optional`, `Multiple`) to the ties of `{q}`"),
                );
            }
        }
    }
}

fn mains(errors: &Errors, model: &Model) {
    let mut seen: Vec<&Ident> = Vec::new();
    for main in &model.mains {
        if !is_peer(model, &main.peer) {
            unknown_peer(errors, model, &main.peer, "in the placement of `main`");
            continue;
        }
        if let Some(first) = seen.iter().find(|p| **p == &main.peer) {
            errors.spanned(
                &main.func.sig.ident,
                format!("`{first}` has two `main`s; a peer has at most one `main`, so merge them into one"),
            );
            continue;
        }
        seen.push(&main.peer);
        context_peer(errors, &main.context, &main.peer, &main.func.sig.ident);
        let peer = &main.peer;
        let wanted = format!("`#[on({peer})] async fn main(ctx: Here<{peer}>) -> loci::Result<()>`");
        if main.func.sig.asyncness.is_none() {
            errors.spanned(main.func.sig.fn_token, format!("`main` of `{peer}` must be async: {wanted}"));
        } else if main.func.sig.inputs.len() != 1
            || main.context.as_ref().is_some_and(|c| c.by_ref)
            || main.context.is_none()
        {
            errors.spanned(
                &main.func.sig.inputs,
                format!("`main` of `{peer}` takes its context by value and nothing else: {wanted}"),
            );
        }
    }
}
