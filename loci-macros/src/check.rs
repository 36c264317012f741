//! Phase 3: validate the architecture the module describes.

use std::collections::HashMap;

use syn::visit::{self, Visit};
use syn::{Expr, Ident};

use crate::model::{Context, Kind, Model, Multiplicity, Placed};
use crate::Errors;

pub fn module(errors: &Errors, model: &Model) {
    names(errors, model);
    ties(errors, model);
    conflicting_backs(errors, model);
    placements(errors, model);
    mains(errors, model);
    bodies(errors, model);
    lifted(errors, model);
}

/// The first use of each name, so that a variable used three times is reported once.
fn first_uses(uses: &[Ident]) -> Vec<&Ident> {
    let mut seen: Vec<&Ident> = Vec::new();
    for ident in uses {
        if !seen.contains(&ident) {
            seen.push(ident);
        }
    }
    seen
}

/// The name of the first parameter of a function (a lifted block's context).
fn first_param(func: &syn::ItemFn) -> Option<Ident> {
    match func.sig.inputs.first()? {
        syn::FnArg::Typed(arg) => match &*arg.pat {
            syn::Pat::Ident(name) => Some(name.ident.clone()),
            _ => None,
        },
        syn::FnArg::Receiver(_) => None,
    }
}

/// Remote blocks and spores use only what they capture: the code around them runs elsewhere.
fn lifted(errors: &Errors, model: &Model) {
    for site in &model.blocks {
        let block = &model.items[site.item];
        let (owner, caller, target) = (&site.owner, &site.caller, &block.peer);
        for ident in first_uses(&site.outside.uncaptured) {
            errors.in_body(
                ident,
                format!("`{ident}` is a local variable of `{owner}`, which runs on `{caller}`, but this block runs on a `{target}`: add it to the captures, `capture({ident})`, so that its value travels with the block"),
            );
        }
        let own = first_param(&block.func).map_or_else(|| "its own context".to_owned(), |name| format!("`{name}`"));
        for ident in first_uses(&site.outside.context) {
            errors.in_body(
                ident,
                format!("`{ident}` is the context of `{caller}`, where `{owner}` runs, but this block runs on a `{target}`: use the block's own context, {own}"),
            );
        }
    }
    for spore in &model.spores {
        let owner = &spore.owner;
        for ident in first_uses(&spore.outside.uncaptured) {
            errors.in_body(
                ident,
                format!("`{ident}` is a local variable of `{owner}`, and a spore carries only what it captures: add it to the captures, `capture({ident})`"),
            );
        }
        let caller = spore.outside.context_peer.as_ref().map_or_else(String::new, |peer| format!(" of `{peer}`"));
        for ident in first_uses(&spore.outside.context) {
            errors.in_body(
                ident,
                format!("`{ident}` is the context{caller} where `{owner}` runs, but a spore runs wherever it is applied: give the spore a context parameter, `|ctx: &Here<Peer>, input: In|`, and use that"),
            );
        }
    }
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

fn bodies(errors: &Errors, model: &Model) {
    // A lifted block is reported as part of the function it is written in.
    let owner_of = |index: usize| {
        model.blocks.iter().find(|site| site.item == index).map_or(model.items[index].ident(), |site| &site.owner)
    };
    let spores =
        model.spores.iter().filter_map(|spore| spore.peer.as_ref().map(|peer| (peer, &spore.owner, &spore.func.block)));
    let bodies = model
        .items
        .iter()
        .enumerate()
        .map(|(index, item)| (&item.peer, owner_of(index), &item.func.block))
        .chain(spores)
        .chain(model.mains.iter().map(|main| (&main.peer, &main.func.sig.ident, &main.func.block)));
    // Plain helpers that take `&Here<P>` run on `P` as well.
    let helpers: Vec<(Ident, &syn::ItemFn)> = model
        .shared
        .iter()
        .filter_map(|item| match item {
            syn::Item::Fn(func) => crate::model::here_peer_in(&func.sig).map(|peer| (peer, func)),
            _ => None,
        })
        .collect();
    let helpers = helpers.iter().map(|(peer, func)| (peer, &func.sig.ident, &func.block));
    for (peer, owner, block) in bodies.chain(helpers) {
        BodyCheck { model, errors, peer, owner, shadowed: Vec::new() }.visit_block(block);
    }
}

/// Finds placed items used as if they were local values.
struct BodyCheck<'a> {
    model: &'a Model,
    errors: &'a Errors,
    peer: &'a Ident,
    owner: &'a Ident,
    /// Local variables in scope that are named like a placed item or a tie.
    shadowed: Vec<Ident>,
}

impl<'a> BodyCheck<'a> {
    fn placed_item<'e>(&self, expr: &'e Expr) -> Option<(&'e Ident, &'a Placed)> {
        let Expr::Path(path) = expr else { return None };
        let ident = path.path.get_ident()?;
        let item = self.model.items.iter().find(|item| item.ident() == ident)?;
        if self.shadowed.iter().any(|binding| binding == ident) {
            self.errors.in_body(
                ident,
                format!("`{ident}` here is a local variable: a `let` above binds that name and shadows the placed item `{ident}`; give the variable another name (say `{ident}_value`) so that `{ident}` still names the item"),
            );
            return None;
        }
        Some((ident, item))
    }

    fn self_tied(&self) -> bool {
        self.model
            .peers
            .iter()
            .find(|p| p.ident() == self.peer)
            .is_some_and(|p| p.ties_lost || p.ties.iter().any(|t| &t.peer == self.peer))
    }

    /// `ctx.remote(item)`: the item must be reachable from the peer this body runs on.
    fn remote_access(&self, arg: &Expr) {
        let Some((name, item)) = self.placed_item(arg) else { return };
        let (peer, owner, placed_on) = (self.peer, self.owner, &item.peer);
        if let Kind::Local { .. } = item.kind {
            self.errors.in_body(
                arg,
                format!("`{name}` is local to `{placed_on}`: local state never leaves a `{placed_on}` instance, so it cannot be reached remotely; read it with `ctx.local({name})` in code placed on `{placed_on}`, or expose what remotes need through a placed function that reads it"),
            );
            return;
        }
        if let Some(requester) = &item.requester {
            if &requester.peer != peer {
                let q = &requester.peer;
                self.errors.in_body(
                    arg,
                    format!("only `{q}` may reach `{name}`: it takes the requesting `&Remote<{q}>`, and `{owner}` runs on `{peer}`; reach it from code placed on `{q}`, or drop the requester parameter to let every tied peer reach it"),
                );
                return;
            }
        }
        if placed_on == peer && !self.self_tied() {
            self.errors.in_body(
                arg,
                format!(
                    "`{name}` is placed on `{peer}` itself, where `{owner}` runs: use it with `ctx.local({name})`; remote access needs a tie to another peer (or `{peer} = Multiple` in the ties of `{peer}` to reach other `{peer}`s)"
                ),
            );
        }
    }

    /// `.over(tie)` after `ctx.remote(item)` or `remote!(..)`: the tie must lead to the peer
    /// the item or block is placed on. A name that is not a tie of this peer at all is left to
    /// the type check, whose message already says so at the name.
    fn over_tie(&self, call: &syn::ExprMethodCall) {
        let Some(tie_name) = path_ident(&call.args[0]).filter(|name| !self.shadowed.contains(name)) else { return };
        let Some(here) = self.model.peers.iter().find(|p| p.ident() == self.peer) else { return };
        let Some(tie) = here.ties.iter().find(|tie| tie.name.as_ref() == Some(tie_name)) else { return };
        let Some((target, what)) = self.accessed(&call.receiver) else { return };
        if &tie.peer == target {
            return;
        }
        let to_target: Vec<&crate::model::Tie> = here.ties.iter().filter(|tie| &tie.peer == target).collect();
        // Without any tie to the target, the access itself is reported.
        if to_target.is_empty() {
            return;
        }
        let peer = self.peer;
        let named: Vec<String> =
            to_target.iter().filter_map(|tie| tie.name.as_ref()).map(|name| format!("`.over({name})`")).collect();
        let instead = if named.is_empty() {
            format!("drop `.over({tie_name})`: the one tie of `{peer}` to `{target}` is used without it")
        } else {
            format!("name a tie of `{peer}` to `{target}` instead: {}", named.join(", "))
        };
        self.errors.in_body(
            &call.args[0],
            format!("`{tie_name}` ties `{peer}` to `{}`, but {what} on `{target}`; {instead}", tie.peer),
        );
    }

    /// The peer an access expression reaches and what is there (`this block runs`, `` `hops`
    /// is placed ``), seen through
    /// the settings that keep the target (`.timeout(..)`, `.when_connected()`).
    fn accessed(&self, expr: &Expr) -> Option<(&'a Ident, String)> {
        match expr {
            Expr::Paren(paren) => self.accessed(&paren.expr),
            Expr::MethodCall(call) if ["timeout", "no_timeout", "when_connected"].iter().any(|m| call.method == m) => {
                self.accessed(&call.receiver)
            }
            Expr::MethodCall(call) if call.method == "remote" && call.args.len() == 1 => {
                let ident = path_ident(&call.args[0])?;
                if self.shadowed.contains(ident) {
                    return None;
                }
                let (index, item) = self.model.items.iter().enumerate().find(|(_, item)| item.ident() == ident)?;
                let what = if self.model.blocks.iter().any(|site| site.item == index) {
                    "this block runs".to_owned()
                } else {
                    format!("`{ident}` is placed")
                };
                Some((&item.peer, what))
            }
            // A lifted block: `::loci::Block::__new(ctx.remote(lifted), captures)`.
            Expr::Call(call) => match &*call.func {
                Expr::Path(path) if path.path.segments.last().is_some_and(|last| last.ident == "__new") => {
                    self.accessed(call.args.first()?)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// `ctx.local(item)`: the item must be placed on this peer and have one local form.
    fn local_access(&self, arg: &Expr) {
        let Some((name, item)) = self.placed_item(arg) else { return };
        let (peer, owner, placed_on) = (self.peer, self.owner, &item.peer);
        if placed_on != peer {
            self.errors.in_body(
                arg,
                format!(
                    "`{name}` is placed on `{placed_on}`, but `{owner}` runs on `{peer}`, so `ctx.local` cannot read it; use remote access: `ctx.remote({name})`"
                ),
            );
        } else if let Some(requester) = &item.requester {
            let q = &requester.peer;
            let what = match item.kind {
                Kind::Function => format!("`{name}` takes the requesting `&Remote<{q}>`, so it can only be called by a `{q}`; move the part `{peer}` needs into a plain `fn` taking `&Here<{peer}>` and call that from both"),
                _ => format!("`{name}` is computed per requesting `{q}`, so there is no one local value to read; build the shared part as a placed value of its own and read that with `ctx.local`"),
            };
            self.errors.in_body(arg, what);
        }
    }
}

/// The identifier an expression is, if it is one plain name.
fn path_ident(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Path(path) => path.path.get_ident(),
        _ => None,
    }
}

/// The variables a pattern binds.
fn bound_names(pat: &syn::Pat, names: &mut Vec<Ident>) {
    struct Bindings<'n>(&'n mut Vec<Ident>);
    impl<'ast> Visit<'ast> for Bindings<'_> {
        fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
            self.0.push(pat.ident.clone());
            visit::visit_pat_ident(self, pat);
        }
    }
    Bindings(names).visit_pat(pat);
}

impl<'ast> Visit<'ast> for BodyCheck<'_> {
    fn visit_block(&mut self, block: &'ast syn::Block) {
        let scope = self.shadowed.len();
        for stmt in &block.stmts {
            match stmt {
                syn::Stmt::Local(local) => {
                    // The initialiser still sees the item; the names are shadowed after it.
                    if let Some(init) = &local.init {
                        self.visit_local_init(init);
                    }
                    let mut names = Vec::new();
                    bound_names(&local.pat, &mut names);
                    // Names of items, and of ties (a `let next = ..` is no longer the tie).
                    let (items, peers) = (&self.model.items, &self.model.peers);
                    let is_tie =
                        |name: &Ident| peers.iter().flat_map(|p| &p.ties).any(|t| t.name.as_ref() == Some(name));
                    self.shadowed.extend(
                        names.into_iter().filter(|name| items.iter().any(|item| item.ident() == name) || is_tie(name)),
                    );
                }
                other => self.visit_stmt(other),
            }
        }
        self.shadowed.truncate(scope);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let Some((name, item)) = self.placed_item(&call.func) {
            let (peer, owner, placed_on) = (self.peer, self.owner, &item.peer);
            let message = if placed_on == peer {
                let how = match item.kind {
                    Kind::Function if call.args.is_empty() => format!("call it with `ctx.local({name}).await`"),
                    Kind::Function => format!("call it with `ctx.local({name}).call(..).await`"),
                    _ => format!("read it with `ctx.local({name})`"),
                };
                format!("`{name}` is a placed item, so it is reached through the context: {how}; code shared by placed items can go into a plain `fn` without `#[on]` (it may take `&Here<{peer}>`)")
            } else {
                format!(
                    "`{name}` is placed on `{placed_on}`, but `{owner}` runs on `{peer}`, so it cannot be used as if it were local; reach it through the tie from `{peer}` to `{placed_on}`: `ctx.remote({name})` with `.as_local()`, `.from(&remote)` or `.from_all()`"
                )
            };
            self.errors.in_body(call, message);
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        if call.method == "remote" && call.args.len() == 1 {
            self.remote_access(&call.args[0]);
        }
        if call.method == "over" && call.args.len() == 1 {
            self.over_tie(call);
        }
        if call.method == "local" && call.args.len() == 1 {
            self.local_access(&call.args[0]);
        }
        visit::visit_expr_method_call(self, call);
    }
}
