//! Phase 3: validate the architecture the module describes.

use std::collections::HashMap;

use syn::visit::{self, Visit};
use syn::{Expr, Ident};

use crate::model::{Context, Model, Multiplicity};
use crate::Errors;

pub fn module(errors: &Errors, model: &Model) {
    names(errors, model);
    ties(errors, model);
    placements(errors, model);
    mains(errors, model);
    bodies(errors, model);
}

fn peer_list(model: &Model) -> String {
    model.peers.iter().map(|p| format!("`{}`", p.ident())).collect::<Vec<_>>().join(", ")
}

fn unknown_peer(errors: &Errors, model: &Model, ident: &Ident, role: &str) {
    let known = if model.peers.is_empty() {
        "the module declares no peers; declare one with `#[peer] pub struct Name;`".to_owned()
    } else {
        format!("the peers of this module are {}", peer_list(model))
    };
    errors.spanned(ident, format!("unknown peer `{ident}` {role}; {known}"));
}

fn is_peer(model: &Model, ident: &Ident) -> bool {
    model.peers.iter().any(|p| p.ident() == ident)
}

fn names(errors: &Errors, model: &Model) {
    let mut seen: HashMap<String, &str> = HashMap::new();
    let declared =
        model.peers.iter().map(|p| (p.ident(), "peer")).chain(model.items.iter().map(|i| (i.ident(), "placed item")));
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
    for peer in &model.peers {
        let mut tied: Vec<&Ident> = Vec::new();
        for tie in &peer.ties {
            if !is_peer(model, &tie.peer) {
                unknown_peer(errors, model, &tie.peer, &format!("in the ties of `{}`", peer.ident()));
                continue;
            }
            if tied.contains(&&tie.peer) {
                errors.spanned(
                    &tie.peer,
                    format!(
                        "`{}` is tied to `{}` twice; keep one tie with the multiplicity you mean",
                        peer.ident(),
                        tie.peer
                    ),
                );
                continue;
            }
            tied.push(&tie.peer);
            let Some(other) = model.peers.iter().find(|p| p.ident() == &tie.peer) else { continue };
            // A tie of the other peer that names an unknown peer is probably the missing one, misspelt.
            let misspelt = other.ties.iter().any(|t| !is_peer(model, &t.peer));
            if !misspelt && !other.ties.iter().any(|t| &t.peer == peer.ident()) {
                let hint = if tie.multiplicity == Multiplicity::Multiple { "Single" } else { "Multiple" };
                errors.spanned(
                    &tie.written,
                    format!(
                        "`{}` ties to `{}`, but `{}` has no tie back to `{}`; a connection needs both ends: add `{} = {hint}` (or the multiplicity you mean) to the ties of `{}`",
                        peer.ident(), tie.peer, tie.peer, peer.ident(), peer.ident(), tie.peer
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
        if let Some(per) = &item.per_remote {
            if !is_peer(model, &per.peer) {
                unknown_peer(errors, model, &per.peer, &format!("in the requester of `{}`", item.ident()));
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
    let bodies = model
        .items
        .iter()
        .map(|item| (&item.peer, item.ident(), &item.func.block))
        .chain(model.mains.iter().map(|main| (&main.peer, &main.func.sig.ident, &main.func.block)));
    for (peer, owner, block) in bodies {
        BodyCheck { model, errors, peer, owner }.visit_block(block);
    }
}

/// Finds placed items used as if they were local values.
struct BodyCheck<'a> {
    model: &'a Model,
    errors: &'a Errors,
    peer: &'a Ident,
    owner: &'a Ident,
}

impl BodyCheck<'_> {
    fn placed_name<'e>(&self, expr: &'e Expr) -> Option<(&'e Ident, &Ident)> {
        let Expr::Path(path) = expr else { return None };
        let ident = path.path.get_ident()?;
        let item = self.model.items.iter().find(|item| item.ident() == ident)?;
        Some((ident, &item.peer))
    }
}

impl<'ast> Visit<'ast> for BodyCheck<'_> {
    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let Some((name, placed_on)) = self.placed_name(&call.func) {
            let (peer, owner) = (self.peer, self.owner);
            let message = if placed_on == peer {
                format!(
                    "`{name}` is a placed item, not a plain function; read a placed value with `ctx.local({name})`, and move code shared by placed functions into a plain `fn` without `#[on]`"
                )
            } else {
                format!(
                    "`{name}` is placed on `{placed_on}`, but `{owner}` runs on `{peer}`, so it cannot be used as if it were local; reach it through the tie from `{peer}` to `{placed_on}`: `ctx.remote({name})` with `.as_local()`, `.from(&remote)` or `.from_all()`"
                )
            };
            self.errors.spanned(call, message);
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        if call.method == "remote" && call.args.len() == 1 {
            if let Some((name, placed_on)) = self.placed_name(&call.args[0]) {
                let self_tied = self
                    .model
                    .peers
                    .iter()
                    .find(|p| p.ident() == self.peer)
                    .is_some_and(|p| p.ties.iter().any(|t| &t.peer == self.peer));
                if placed_on == self.peer && !self_tied {
                    let (peer, owner) = (self.peer, self.owner);
                    self.errors.spanned(
                        &call.args[0],
                        format!(
                            "`{name}` is placed on `{peer}` itself, where `{owner}` runs: read it with `ctx.local({name})`; remote access needs a tie to another peer (or `{peer} = Multiple` in the ties of `{peer}` to reach other `{peer}`s)"
                        ),
                    );
                }
            }
        }
        if call.method == "local" && call.args.len() == 1 {
            if let Some((name, placed_on)) = self.placed_name(&call.args[0]) {
                if placed_on != self.peer {
                    let (peer, owner) = (self.peer, self.owner);
                    self.errors.spanned(
                        &call.args[0],
                        format!(
                            "`{name}` is placed on `{placed_on}`, but `{owner}` runs on `{peer}`, so `ctx.local` cannot read it; use remote access: `ctx.remote({name})`"
                        ),
                    );
                }
            }
        }
        visit::visit_expr_method_call(self, call);
    }
}
