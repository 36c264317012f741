//! Checks of the code in function bodies, on a model whose architecture is checked in the
//! parent module: placed items used as if local, remote access that cannot reach, `.over` with
//! a tie to another kind of peer, and what remote blocks and spores use without capturing.
//! Its errors are [`Errors::in_body`]: the module is still emitted whole next to them.

use syn::visit::{self, Visit};
use syn::{Expr, Ident};

use crate::model::{Kind, Model, Placed};
use crate::Errors;

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
pub(super) fn lifted(errors: &Errors, model: &Model) {
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

pub(super) fn bodies(errors: &Errors, model: &Model) {
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
