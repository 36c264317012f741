//! Phase 3: lift remote blocks and spores out of the code they are written in.
//!
//! `remote!(ctx, capture(a, b), |tm: &Here<Q>| -> T { .. })` in code placed on `P` becomes a
//! placed function of `Q` (`Kind::Block`) whose arguments are the captures, and the invocation
//! becomes an access to it that carries the captures' values. `spore!(capture(a), |x: In| -> Out
//! { .. })` becomes a function of the peers it may run on, and the invocation a `Spore` value
//! that names it and carries the captures' values. Lifted code is walked again, so a block may
//! hold blocks and spores of its own.
//!
//! While walking, the local variables in scope are tracked, so that lifted code that uses one
//! without capturing it is recorded for `check` to report at the variable.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, ExprClosure, Ident, ItemFn, Pat, ReturnType, Stmt, Token, Type};

use crate::model::{self, BlockSite, Capture, Kind, Model, Outside, Placed, Spore};
use crate::Errors;

/// `capture(a, b: T)` as written: names, each with its type if written there.
struct CaptureList(Scope);

impl CaptureList {
    /// An optional `capture(..)` followed by a comma.
    fn parse_optional(input: ParseStream) -> syn::Result<Self> {
        let fork = input.fork();
        let is_capture = fork.parse::<Ident>().is_ok_and(|ident| ident == "capture") && fork.peek(syn::token::Paren);
        if !is_capture {
            return Ok(CaptureList(Vec::new()));
        }
        input.parse::<Ident>()?;
        let content;
        syn::parenthesized!(content in input);
        let captures = Punctuated::<(Ident, Option<Type>), Token![,]>::parse_terminated_with(&content, |input| {
            let ident: Ident = input.parse()?;
            let ty = if input.peek(Token![:]) {
                input.parse::<Token![:]>()?;
                Some(input.parse()?)
            } else {
                None
            };
            Ok((ident, ty))
        })?;
        input.parse::<Token![,]>()?;
        Ok(CaptureList(captures.into_iter().collect()))
    }
}

/// `remote!(ctx, capture(..), |tm: &Here<Q>| -> T { .. })`.
struct RemoteBlock {
    ctx: Expr,
    captures: CaptureList,
    closure: ExprClosure,
}

impl Parse for RemoteBlock {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        // A block written without the context it is sent from starts with its closure.
        if input.peek(Token![|]) || input.peek(Token![async]) || input.peek(Token![move]) {
            return Err(input.error(
                "a remote block starts with the context of the code it is written in, the one that sends it: `remote!(ctx, |remote_ctx: &Here<Peer>| ..)`",
            ));
        }
        let ctx = input.parse()?;
        input.parse::<Token![,]>()?;
        let captures = CaptureList::parse_optional(input)?;
        let closure = input.parse()?;
        let _ = input.parse::<Option<Token![,]>>()?;
        Ok(RemoteBlock { ctx, captures, closure })
    }
}

/// `spore!(capture(..), |x: In| -> Out { .. })`, optionally with a leading `ctx: &Here<P>`.
struct SporeLiteral {
    captures: CaptureList,
    closure: ExprClosure,
}

impl Parse for SporeLiteral {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let captures = CaptureList::parse_optional(input)?;
        let closure = input.parse()?;
        let _ = input.parse::<Option<Token![,]>>()?;
        Ok(SporeLiteral { captures, closure })
    }
}

const BLOCK_FORM: &str = "a remote block is written `remote!(ctx, capture(a, b), |remote_ctx: &Here<Peer>| -> Result { .. })` (`async |remote_ctx: &Here<Peer>| ..` when it waits); `capture(..)` and `-> Result` may be left out";
const SPORE_FORM: &str = "a spore is written `spore!(capture(a, b), |input: In| -> Out { .. })`, or with a first parameter `ctx: &Here<Peer>` to run only on `Peer`";

/// Which of loci's macros an invocation is, by the last segment of its path.
fn lifted_macro(mac: &syn::Macro) -> Option<&'static str> {
    let last = mac.path.segments.last()?;
    let crate_ok = mac.path.segments.len() == 1 || mac.path.segments.first().is_some_and(|s| s.ident == "loci");
    match last.ident.to_string().as_str() {
        "remote" if crate_ok => Some("remote"),
        "spore" if crate_ok => Some("spore"),
        _ => None,
    }
}

/// The body of a closure as a block, and whether it is `async` (an `async` closure, or a
/// closure whose body is an `async` block).
fn closure_body(closure: &ExprClosure) -> (syn::Block, bool) {
    let async_closure = closure.asyncness.is_some();
    match &*closure.body {
        Expr::Async(body) => (body.block.clone(), true),
        Expr::Block(body) if body.label.is_none() => (body.block.clone(), async_closure),
        other => (syn::parse_quote!({ #other }), async_closure),
    }
}

/// The closure's `-> T`, or `()`.
fn closure_output(closure: &ExprClosure) -> Type {
    match &closure.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    }
}

/// Gives every token of `tokens` the span `span`, so errors about a type point at a capture.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                TokenTree::Group(respanned)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// Variables in scope, each with its type where the code states it.
type Scope = Vec<(Ident, Option<Type>)>;

/// The variables a pattern binds, with their type where the pattern states it.
fn bindings(pat: &Pat, out: &mut Scope) {
    match pat {
        Pat::Ident(pat) => {
            out.push((pat.ident.clone(), None));
            if let Some((_, sub)) = &pat.subpat {
                bindings(sub, out);
            }
        }
        Pat::Type(typed) => {
            if let Pat::Ident(inner) = &*typed.pat {
                out.push((inner.ident.clone(), Some((*typed.ty).clone())));
            } else {
                bindings(&typed.pat, out);
            }
        }
        Pat::Reference(pat) => bindings(&pat.pat, out),
        Pat::Tuple(pat) => pat.elems.iter().for_each(|p| bindings(p, out)),
        Pat::TupleStruct(pat) => pat.elems.iter().for_each(|p| bindings(p, out)),
        Pat::Struct(pat) => pat.fields.iter().for_each(|field| bindings(&field.pat, out)),
        Pat::Slice(pat) => pat.elems.iter().for_each(|p| bindings(p, out)),
        Pat::Or(pat) => {
            if let Some(first) = pat.cases.first() {
                bindings(first, out);
            }
        }
        Pat::Paren(pat) => bindings(&pat.pat, out),
        _ => {}
    }
}

/// Code to walk: a body, the peer it runs on, its context's name, and what it may not use.
struct Job {
    /// Where the body lives: an item, a `main`, a shared helper or a spore.
    target: BodyRef,
    peer: Option<Ident>,
    context: Option<Ident>,
    /// Variables bound before the body (its parameters).
    scope: Scope,
    /// Local variables of the code the body was lifted from (and of the code around that), and
    /// the contexts of that code, each with its peer.
    outer: Vec<Ident>,
    outer_contexts: Vec<(Ident, Ident)>,
    owner: Ident,
    /// Set for lifted bodies: where to record their uses of the outer code.
    site: Option<SiteRef>,
}

#[derive(Clone, Copy)]
enum BodyRef {
    Item(usize),
    Main(usize),
    Shared(usize),
    Spore(usize),
}

#[derive(Clone, Copy)]
enum SiteRef {
    Block(usize),
    Spore(usize),
}

/// The parameters of a signature as scope entries, and its context's name and peer.
fn signature_scope(sig: &syn::Signature) -> (Scope, Option<(Ident, Ident)>) {
    let mut scope = Vec::new();
    let mut context = None;
    for input in &sig.inputs {
        if let syn::FnArg::Typed(arg) = input {
            if let (Some(peer), Pat::Ident(name)) = (model::here_peer(&arg.ty), &*arg.pat) {
                context.get_or_insert((name.ident.clone(), peer));
            }
            // A plain parameter has the parameter's type; names taken out of a pattern have
            // types of their own, which are not written here.
            match &*arg.pat {
                Pat::Ident(name) => scope.push((name.ident.clone(), Some((*arg.ty).clone()))),
                pattern => bindings(pattern, &mut scope),
            }
        }
    }
    (scope, context)
}

pub fn module(errors: &Errors, model: &mut Model) {
    let mut jobs = Vec::new();
    for (index, item) in model.items.iter().enumerate() {
        let (scope, context) = signature_scope(&item.func.sig);
        jobs.push(Job {
            target: BodyRef::Item(index),
            peer: Some(item.peer.clone()),
            context: context.map(|(name, _)| name),
            scope,
            outer: Vec::new(),
            outer_contexts: Vec::new(),
            owner: item.ident().clone(),
            site: None,
        });
    }
    for (index, main) in model.mains.iter().enumerate() {
        let (scope, context) = signature_scope(&main.func.sig);
        jobs.push(Job {
            target: BodyRef::Main(index),
            peer: Some(main.peer.clone()),
            context: context.map(|(name, _)| name),
            scope,
            outer: Vec::new(),
            outer_contexts: Vec::new(),
            owner: main.func.sig.ident.clone(),
            site: None,
        });
    }
    for (index, item) in model.shared.iter().enumerate() {
        if let syn::Item::Fn(func) = item {
            let (scope, context) = signature_scope(&func.sig);
            jobs.push(Job {
                target: BodyRef::Shared(index),
                peer: context.as_ref().map(|(_, peer)| peer.clone()),
                context: context.map(|(name, _)| name),
                scope,
                outer: Vec::new(),
                outer_contexts: Vec::new(),
                owner: func.sig.ident.clone(),
                site: None,
            });
        }
    }
    // Lifted bodies are walked in turn, right after the body they were lifted from.
    let mut jobs = std::collections::VecDeque::from(jobs);
    while let Some(job) = jobs.pop_front() {
        let mut lifter = Lifter {
            errors,
            model,
            job: &job,
            scopes: vec![job.scope.clone()],
            outside: Outside {
                context_peer: job.outer_contexts.first().map(|(_, peer)| peer.clone()),
                ..Outside::default()
            },
            new_jobs: Vec::new(),
        };
        let mut block = match job.target {
            BodyRef::Item(i) => (*lifter.model.items[i].func.block).clone(),
            BodyRef::Main(i) => (*lifter.model.mains[i].func.block).clone(),
            BodyRef::Shared(i) => match &lifter.model.shared[i] {
                syn::Item::Fn(func) => (*func.block).clone(),
                _ => unreachable!("only functions are walked"),
            },
            BodyRef::Spore(i) => (*lifter.model.spores[i].func.block).clone(),
        };
        lifter.visit_block_mut(&mut block);
        let (outside, new_jobs) = (lifter.outside, lifter.new_jobs);
        match job.target {
            BodyRef::Item(i) => *model.items[i].func.block = block,
            BodyRef::Main(i) => *model.mains[i].func.block = block,
            BodyRef::Shared(i) => {
                if let syn::Item::Fn(func) = &mut model.shared[i] {
                    *func.block = block;
                }
            }
            BodyRef::Spore(i) => *model.spores[i].func.block = block,
        }
        match job.site {
            Some(SiteRef::Block(site)) => model.blocks[site].outside = outside,
            Some(SiteRef::Spore(spore)) => model.spores[spore].outside = outside,
            None => {}
        }
        for new_job in new_jobs.into_iter().rev() {
            jobs.push_front(new_job);
        }
    }
}

struct Lifter<'a> {
    errors: &'a Errors,
    model: &'a mut Model,
    job: &'a Job,
    /// Variables in scope, innermost scope last.
    scopes: Vec<Scope>,
    outside: Outside,
    new_jobs: Vec<Job>,
}

impl Lifter<'_> {
    fn bound(&self, ident: &Ident) -> Option<&Option<Type>> {
        self.scopes.iter().rev().flat_map(|scope| scope.iter().rev()).find(|(name, _)| name == ident).map(|(_, ty)| ty)
    }

    /// What code lifted from here may not use: the variables in scope here and those this code
    /// may not use itself.
    fn outer_for_lifted(&self) -> Vec<Ident> {
        self.scopes.iter().flatten().map(|(name, _)| name.clone()).chain(self.job.outer.iter().cloned()).collect()
    }

    /// The contexts code lifted from here may not use: this code's and those around it.
    fn outer_contexts_for_lifted(&self) -> Vec<(Ident, Ident)> {
        let own = self.job.context.clone().zip(self.job.peer.clone());
        own.into_iter().chain(self.job.outer_contexts.iter().cloned()).collect()
    }

    fn with_scope(&mut self, names: Scope, walk: impl FnOnce(&mut Self)) {
        self.scopes.push(names);
        walk(self);
        self.scopes.pop();
    }

    /// A use of `ident` in lifted code: fine if bound inside it, recorded if it is a variable
    /// of the code it was lifted from.
    fn use_of(&mut self, ident: &Ident) {
        if self.bound(ident).is_some() {
            return;
        }
        if self.job.outer_contexts.iter().any(|(context, _)| context == ident) {
            self.outside.context.push(ident.clone());
        } else if self.job.outer.contains(ident) {
            self.outside.uncaptured.push(ident.clone());
        }
    }

    /// The captures with their types: as written in the list, or where the variable is bound.
    fn captures(&mut self, list: &CaptureList, form: &str) -> Option<Vec<Capture>> {
        let mut captures = Vec::new();
        let mut ok = true;
        for (ident, written) in &list.0 {
            // A capture is a use of the variable in the code around the lifted code.
            self.use_of(ident);
            let ty = match (written, self.bound(ident)) {
                (Some(ty), _) | (None, Some(Some(ty))) => ty.clone(),
                (None, Some(None)) => {
                    self.errors.spanned(
                        ident,
                        format!("the type of `{ident}` is not written where it is bound, and a capture travels as its type: write it in the capture list, `capture({ident}: Type)`"),
                    );
                    ok = false;
                    continue;
                }
                (None, None) => {
                    self.errors.spanned(
                        ident,
                        format!("`{ident}` is captured, but no local variable `{ident}` is in scope here; {form}"),
                    );
                    ok = false;
                    continue;
                }
            };
            let ty = respan(ty.into_token_stream(), ident.span());
            match syn::parse2::<Type>(ty) {
                Ok(ty) => captures.push(Capture { ident: ident.clone(), ty }),
                Err(error) => {
                    self.errors.push(error);
                    ok = false;
                }
            }
        }
        ok.then_some(captures)
    }

    /// `Captured::new().with::<<Marker as Capture<0>>::Type>(&a)...`: the captures' values.
    fn captured_values(marker: &TokenStream, captures: &[Capture]) -> TokenStream {
        let values = captures.iter().enumerate().map(|(index, capture)| {
            let ident = &capture.ident;
            quote_spanned!(ident.span()=> .with::<#marker, #index>(&#ident))
        });
        quote!(::loci::__private::Captured::new() #(#values)*)
    }

    fn lift_block(&mut self, mac: &syn::Macro) -> Option<Expr> {
        let Some(caller) = self.job.peer.clone() else {
            self.errors.spanned(
                mac,
                "a remote block runs on a remote of the peer this code runs on: write it in code placed with `#[on(Peer)]`, or in a helper that takes `&Here<Peer>`",
            );
            return None;
        };
        let invocation: RemoteBlock = match mac.parse_body() {
            Ok(invocation) => invocation,
            Err(error) => {
                self.errors.push(syn::Error::new(error.span(), format!("{error}; {BLOCK_FORM}")));
                return None;
            }
        };
        let closure = &invocation.closure;
        let mut params = closure.inputs.iter();
        let context = match (params.next(), params.next()) {
            (Some(Pat::Type(typed)), None) => match (&*typed.pat, model::context_of(&typed.ty)) {
                (Pat::Ident(name), Some(context)) => Some((name.ident.clone(), context)),
                _ => None,
            },
            _ => None,
        };
        let Some((context_name, context)) = context else {
            let (or1, inputs, or2) = (&closure.or1_token, &closure.inputs, &closure.or2_token);
            self.errors.spanned(
                quote!(#or1 #inputs #or2),
                format!("a remote block takes one parameter, the context of the peer it runs on, with its type: `|remote_ctx: &Here<Peer>|`; {BLOCK_FORM}"),
            );
            return None;
        };
        let captures = self.captures(&invocation.captures, BLOCK_FORM)?;
        let (body, is_async) = closure_body(closure);
        let output = closure_output(closure);
        let index = self.model.items.len();
        let number = self.model.blocks.iter().filter(|site| site.owner == self.job.owner).count() + 1;
        let name = format_ident!("__loci_block_{}", index);
        let context_ty = context.ty.clone();
        let params = captures.iter().map(|capture| {
            let (ident, ty) = (&capture.ident, &capture.ty);
            quote!(#ident: #ty)
        });
        let asyncness = is_async.then(|| quote!(async));
        let func: ItemFn = syn::parse_quote! {
            #[allow(unused_variables, clippy::needless_pass_by_value)]
            #asyncness fn #name(#context_name: #context_ty, #(#params),*) -> #output #body
        };
        let peer = context.peer.clone();
        self.model.items.push(Placed {
            func,
            peer: peer.clone(),
            kind: Kind::Block { captures: captures.clone(), caller: caller.clone() },
            requester: None,
            context: Some(context),
            params: captures
                .iter()
                .map(|capture| {
                    let ident = &capture.ident;
                    (syn::parse_quote!(#ident), capture.ty.clone())
                })
                .collect(),
            output,
            label: Some(format!("{}/block {number}", self.job.owner)),
        });
        let site = self.model.blocks.len();
        self.model.blocks.push(BlockSite {
            item: index,
            caller: caller.clone(),
            owner: self.job.owner.clone(),
            outside: Outside::default(),
        });
        self.new_jobs.push(Job {
            target: BodyRef::Item(index),
            peer: Some(peer),
            context: Some(context_name.clone()),
            scope: std::iter::once((context_name, None))
                .chain(captures.iter().map(|c| (c.ident.clone(), Some(c.ty.clone()))))
                .collect(),
            outer: self.outer_for_lifted(),
            outer_contexts: self.outer_contexts_for_lifted(),
            owner: self.job.owner.clone(),
            site: Some(SiteRef::Block(site)),
        });
        // The context expression belongs to the code around the block.
        let mut ctx = invocation.ctx.clone();
        self.visit_expr_mut(&mut ctx);
        let marker = quote!(__loci_item::#name);
        let values = Self::captured_values(&marker, &captures);
        // The access is spanned at the block's context type: a missing tie is reported there.
        let remote = quote_spanned!(context_ty.span()=> remote);
        Some(syn::parse_quote!(::loci::Block::__new((#ctx).#remote(#name), #values)))
    }

    fn lift_spore(&mut self, mac: &syn::Macro) -> Option<Expr> {
        let literal: SporeLiteral = match mac.parse_body() {
            Ok(literal) => literal,
            Err(error) => {
                self.errors.push(syn::Error::new(error.span(), format!("{error}; {SPORE_FORM}")));
                return None;
            }
        };
        let closure = &literal.closure;
        let mut context = None;
        let mut input = None;
        let mut well_formed = true;
        for (position, param) in closure.inputs.iter().enumerate() {
            let Pat::Type(typed) = param else {
                well_formed = false;
                break;
            };
            let Pat::Ident(name) = &*typed.pat else {
                well_formed = false;
                break;
            };
            match (position, model::context_of(&typed.ty), &input) {
                (0, Some(found), _) => context = Some((name.ident.clone(), found)),
                (_, None, None) => input = Some((name.ident.clone(), (*typed.ty).clone())),
                _ => well_formed = false,
            }
        }
        let (Some((input_name, input_ty)), true) = (input, well_formed) else {
            let (or1, inputs, or2) = (&closure.or1_token, &closure.inputs, &closure.or2_token);
            self.errors.spanned(
                quote!(#or1 #inputs #or2),
                format!("a spore takes one input with its type (`|input: In|`), after an optional context `ctx: &Here<Peer>`; {SPORE_FORM}"),
            );
            return None;
        };
        let captures = self.captures(&literal.captures, SPORE_FORM)?;
        let (body, is_async) = closure_body(closure);
        if is_async {
            self.errors.spanned(
                &closure.body,
                format!(
                    "a spore is applied where its data is, without waiting: make its body a plain block; {SPORE_FORM}"
                ),
            );
            return None;
        }
        let output = closure_output(closure);
        let id = self.model.spores.len() as u16;
        let name = format_ident!("__loci_spore_{}", id);
        let context_param = context.as_ref().map(|(name, context)| {
            let ty = &context.ty;
            quote!(#name: #ty,)
        });
        let params = captures.iter().map(|capture| {
            let (ident, ty) = (&capture.ident, &capture.ty);
            quote!(#ident: #ty,)
        });
        let func: ItemFn = syn::parse_quote! {
            #[allow(unused_variables, clippy::needless_pass_by_value)]
            fn #name(#context_param #(#params)* #input_name: #input_ty) -> #output #body
        };
        let peer = context.as_ref().map(|(_, context)| context.peer.clone());
        let spore_context = context.as_ref().map(|(name, _)| name.clone());
        let mut scope: Scope = context.iter().map(|(name, _)| (name.clone(), None)).collect();
        scope.extend(captures.iter().map(|c| (c.ident.clone(), Some(c.ty.clone()))));
        scope.push((input_name, Some(input_ty.clone())));
        let marker = quote!(__loci_spore::#name);
        let values = Self::captured_values(&marker, &captures);
        self.model.spores.push(Spore {
            id,
            func,
            peer: peer.clone(),
            context: context.map(|(_, context)| context),
            captures,
            input: input_ty,
            output,
            owner: self.job.owner.clone(),
            outside: Outside::default(),
        });
        self.new_jobs.push(Job {
            target: BodyRef::Spore(usize::from(id)),
            peer,
            context: spore_context,
            scope,
            outer: self.outer_for_lifted(),
            outer_contexts: self.outer_contexts_for_lifted(),
            owner: self.job.owner.clone(),
            site: Some(SiteRef::Spore(usize::from(id))),
        });
        Some(syn::parse_quote!(<#marker as ::loci::__private::SporeFn>::__new(#values)))
    }

    /// Replaces a `remote!` or `spore!` invocation with what it lifts to.
    fn lift(&mut self, mac: &syn::Macro) -> Option<Option<Expr>> {
        match lifted_macro(mac)? {
            "remote" => Some(self.lift_block(mac)),
            _ => Some(self.lift_spore(mac)),
        }
    }

    /// Checks the uses inside a macro this phase does not lift, as far as its tokens parse
    /// as expressions (`println!("{}", x)`, `vec![a, b]`), including the names a format string
    /// uses inline (`"{x}"`).
    fn macro_uses(&mut self, mac: &syn::Macro) {
        if let Some(inner) = first_lifted_macro(mac.tokens.clone()) {
            self.errors.spanned(
                inner,
                format!("a remote block or a spore cannot be written inside the arguments of `{}!`: bind it to a variable first, `let value = ..;`, and pass that", mac.path.segments.last().map_or_else(String::new, |s| s.ident.to_string())),
            );
            return;
        }
        if let Ok(exprs) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            for mut expr in exprs {
                if let Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(format), .. }) = &expr {
                    for name in inline_format_names(&format.value()) {
                        self.use_of(&Ident::new(&name, format.span()));
                    }
                }
                self.visit_expr_mut(&mut expr);
            }
        }
    }
}

impl Lifter<'_> {
    /// Walks an `if` / `while` condition left to right: each `let` binds for what follows it.
    fn visit_condition(&mut self, cond: &mut Expr) {
        match cond {
            Expr::Let(expr_let) => {
                self.visit_expr_mut(&mut expr_let.expr);
                let mut names = Vec::new();
                bindings(&expr_let.pat, &mut names);
                if let Some(scope) = self.scopes.last_mut() {
                    scope.extend(names);
                }
            }
            Expr::Binary(binary) if matches!(binary.op, syn::BinOp::And(_)) => {
                self.visit_condition(&mut binary.left);
                self.visit_condition(&mut binary.right);
            }
            Expr::Paren(paren) => self.visit_condition(&mut paren.expr),
            other => self.visit_expr_mut(other),
        }
    }
}

impl VisitMut for Lifter<'_> {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        self.scopes.push(Vec::new());
        for stmt in &mut block.stmts {
            match stmt {
                Stmt::Local(local) => {
                    // The initialiser does not see the names the `let` binds.
                    if let Some(init) = &mut local.init {
                        self.visit_expr_mut(&mut init.expr);
                        if let Some((_, diverge)) = &mut init.diverge {
                            self.visit_expr_mut(diverge);
                        }
                    }
                    let mut names = Vec::new();
                    bindings(&local.pat, &mut names);
                    if let Some(scope) = self.scopes.last_mut() {
                        scope.extend(names);
                    }
                }
                Stmt::Macro(stmt_mac) => {
                    let (mac, semi) = (stmt_mac.mac.clone(), stmt_mac.semi_token);
                    match self.lift(&mac) {
                        Some(Some(expr)) => *stmt = Stmt::Expr(expr, semi),
                        Some(None) => {}
                        None => self.macro_uses(&mac),
                    }
                }
                Stmt::Item(_) => {}
                other => self.visit_stmt_mut(other),
            }
        }
        self.scopes.pop();
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Macro(mac) => {
                let mac = mac.mac.clone();
                match self.lift(&mac) {
                    Some(Some(lifted)) => *expr = lifted,
                    Some(None) => {}
                    None => self.macro_uses(&mac),
                }
            }
            Expr::Path(path) if path.qself.is_none() => {
                if let Some(ident) = path.path.get_ident() {
                    self.use_of(&ident.clone());
                }
            }
            Expr::Closure(closure) => {
                let mut names = Vec::new();
                closure.inputs.iter().for_each(|pat| bindings(pat, &mut names));
                self.with_scope(names, |this| this.visit_expr_mut(&mut closure.body));
            }
            Expr::ForLoop(for_loop) => {
                self.visit_expr_mut(&mut for_loop.expr);
                let mut names = Vec::new();
                bindings(&for_loop.pat, &mut names);
                self.with_scope(names, |this| this.visit_block_mut(&mut for_loop.body));
            }
            Expr::If(if_expr) => {
                // `if let` binds for the rest of its condition and the branch taken.
                self.with_scope(Vec::new(), |this| {
                    this.visit_condition(&mut if_expr.cond);
                    this.visit_block_mut(&mut if_expr.then_branch);
                });
                if let Some((_, else_branch)) = &mut if_expr.else_branch {
                    self.visit_expr_mut(else_branch);
                }
            }
            Expr::While(while_expr) => {
                self.with_scope(Vec::new(), |this| {
                    this.visit_condition(&mut while_expr.cond);
                    this.visit_block_mut(&mut while_expr.body);
                });
            }
            Expr::Match(match_expr) => {
                self.visit_expr_mut(&mut match_expr.expr);
                for arm in &mut match_expr.arms {
                    let mut names = Vec::new();
                    bindings(&arm.pat, &mut names);
                    self.with_scope(names, |this| {
                        if let Some((_, guard)) = &mut arm.guard {
                            this.visit_expr_mut(guard);
                        }
                        this.visit_expr_mut(&mut arm.body);
                    });
                }
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, _item: &mut syn::Item) {
        // Items nested in a body have scopes of their own.
    }
}

/// The first `remote!` or `spore!` invoked in `tokens`, for an error at it.
fn first_lifted_macro(tokens: TokenStream) -> Option<TokenStream> {
    let mut previous: Option<TokenTree> = None;
    for tree in tokens {
        if let (Some(TokenTree::Ident(ident)), TokenTree::Punct(punct)) = (&previous, &tree) {
            if punct.as_char() == '!' && (ident == "remote" || ident == "spore") {
                return Some(quote!(#ident #punct));
            }
        }
        if let TokenTree::Group(group) = &tree {
            if let Some(found) = first_lifted_macro(group.stream()) {
                return Some(found);
            }
        }
        previous = Some(tree);
    }
    None
}

/// The names a format string uses inline: `x` in `"{x}"` and `"{x:?}"`, not `"{0}"` or `"{{"`.
fn inline_format_names(format: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '{' {
            continue;
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            continue;
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| c.is_alphanumeric() || *c == '_')).collect();
        let starts_like_a_name = name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_');
        if starts_like_a_name && matches!(chars.peek(), Some('}') | Some(':')) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::inline_format_names;

    #[test]
    fn format_strings_name_their_inline_arguments() {
        assert_eq!(inline_format_names("{} {line} {x:?} {0} {{escaped}} {_y:>4}"), vec!["line", "x", "_y"]);
        assert!(inline_format_names("{{line}}").is_empty());
    }
}
