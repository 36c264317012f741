//! Phase 4: emit the module: peers, item handles, their trait impls, per-peer dispatch and the
//! module spec with its fingerprint.
//!
//! Each peer's `Peer` impl only refers to the bodies placed on that peer, so a peer's
//! executable, which instantiates only its own `Peer` impl, links no other peer's code.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use sha2::{Digest, Sha256};
use syn::spanned::Spanned;
use syn::{Ident, Item};

use crate::model::{Capture, Kind, Main, Model, Multiplicity, Placed, Tie};

mod fallback;
mod spores;
pub use fallback::{fallback, stub_bodies};
use spores::{spore_arms, spore_impl};

fn body_ident(name: &Ident) -> Ident {
    format_ident!("__loci_body_{}", name)
}

fn main_ident(peer: &Ident) -> Ident {
    format_ident!("__loci_main_{}", peer)
}

fn multiplicity_path(multiplicity: Multiplicity) -> TokenStream {
    match multiplicity {
        Multiplicity::Single => quote!(::loci::Single),
        Multiplicity::Optional => quote!(::loci::Optional),
        Multiplicity::Multiple => quote!(::loci::Multiple),
    }
}

fn peer_index(model: &Model, peer: &Ident) -> u16 {
    model.peers.iter().position(|p| p.ident() == peer).unwrap_or(0) as u16
}

pub fn module(model: &Model) -> TokenStream {
    let Model { attrs, vis, ident, shared, .. } = model;
    let peers = model.peers.iter().map(|peer| &peer.decl);
    let handles = model.items.iter().map(|item| handle(model, item));
    let handle_types = model.items.iter().map(|item| {
        let name = item.ident();
        quote! {
            #[allow(non_camel_case_types)]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub struct #name;
        }
    });
    // A supplied value has no body: the builder provides it.
    let bodies = model.items.iter().filter(|item| !matches!(item.kind, Kind::Local { supplied: true, .. })).map(body);
    let mains = model.mains.iter().map(main_body);
    let peer_impls = model.peers.iter().map(|peer| peer_impl(model, peer.ident()));
    let tie_impls = model.peers.iter().flat_map(|peer| {
        let from = peer.ident();
        peer.ties.iter().enumerate().filter_map(move |(index, tie)| {
            let to = &tie.peer;
            // Several ties to one peer kind make one `Tie` impl: together, any number of remotes.
            let same: Vec<&Tie> = peer.ties.iter().filter(|t| &t.peer == to).collect();
            if peer.ties.iter().position(|t| &t.peer == to) != Some(index) {
                return None;
            }
            let multiplicity =
                if same.len() > 1 { quote!(::loci::SeveralTies) } else { multiplicity_path(tie.multiplicity) };
            Some(quote!(impl ::loci::Tie<#to> for #from { type Multiplicity = #multiplicity; }))
        })
    });
    let (tie_markers, tie_handles, named_tie_impls) = named_ties(model);
    let spec = module_spec(model);
    let spore_bodies = model.spores.iter().map(|spore| {
        let func = &spore.func;
        quote!(#[doc(hidden)] #func)
    });
    let spore_markers = model.spores.iter().map(|spore| {
        let name = &spore.func.sig.ident;
        quote!(#[allow(non_camel_case_types)] #[derive(Debug, Clone, Copy)] pub struct #name;)
    });
    let spore_impls = model.spores.iter().map(spore_impl);
    quote! {
        #(#attrs)*
        #vis mod #ident {
            #(#shared)*
            #(#peers)*
            #(#handles)*
            /// The types naming the placed items; the items themselves are functions returning them.
            #[doc(hidden)]
            pub mod __loci_item {
                #(#handle_types)*
            }
            /// The types naming the named ties; the ties themselves are functions returning them.
            #[doc(hidden)]
            pub mod __loci_tie {
                #(#tie_markers)*
            }
            #(#tie_handles)*
            #(#named_tie_impls)*
            /// The types naming the module's spores.
            #[doc(hidden)]
            pub mod __loci_spore {
                #(#spore_markers)*
            }
            #(#bodies)*
            #(#spore_bodies)*
            #(#spore_impls)*
            #(#mains)*

            /// The module's peers, ties and placed items, as the runtime sees them.
            #[doc(hidden)]
            pub struct __LociModule;
            #spec
            #(#tie_impls)*
            #(#peer_impls)*
        }
    }
}

/// The named ties: a unit struct per name in the hidden `__loci_tie` module, a function of the
/// same name returning it (so `next` stays free for `let next = ..`, as for placed items), and a
/// `NamedTie` impl per peer that declares a tie of that name.
fn named_ties(model: &Model) -> (Vec<TokenStream>, Vec<TokenStream>, Vec<TokenStream>) {
    let mut names: Vec<&Ident> = Vec::new();
    let mut impls = Vec::new();
    for peer in &model.peers {
        let from = peer.ident();
        for (index, tie) in peer.ties.iter().enumerate() {
            let Some(name) = &tie.name else { continue };
            if !names.contains(&name) {
                names.push(name);
            }
            let (to, index, label) = (&tie.peer, index as u16, name.to_string());
            let multiplicity = multiplicity_path(tie.multiplicity);
            impls.push(quote! {
                impl ::loci::NamedTie<#from> for __loci_tie::#name {
                    type To = #to;
                    type Multiplicity = #multiplicity;
                    const INDEX: u16 = #index;
                    const NAME: &'static str = #label;
                }
            });
        }
    }
    let markers = names.iter().map(|name| {
        quote! {
            #[allow(non_camel_case_types)]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub struct #name;
        }
    });
    let handles = names.iter().map(|name| {
        let declared: Vec<String> = model
            .peers
            .iter()
            .flat_map(|peer| {
                peer.ties
                    .iter()
                    .filter(|tie| tie.name.as_ref() == Some(*name))
                    .map(move |tie| format!("`{}` to `{}` ({})", peer.ident(), tie.peer, tie.multiplicity.name()))
            })
            .collect();
        let doc = format!(
            "The tie `{name}` from {}: choose it with `ctx.remote(item).over({name})` or `ctx.tie({name})`.",
            declared.join(", from ")
        );
        quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            pub fn #name() -> __loci_tie::#name {
                __loci_tie::#name
            }
        }
    });
    (markers.collect(), handles.collect(), impls)
}

/// The type that names a placed item: a unit struct in the hidden `__loci_item` module.
fn handle_type(item: &Placed) -> TokenStream {
    let name = item.ident();
    quote!(__loci_item::#name)
}

/// The handle of a placed item: a function returning its unit-struct type, so `ctx.remote(message)`
/// passes something typed while `message` stays free for `let message = ..` bindings (a unit
/// struct in value position would turn such bindings into patterns).
fn handle(model: &Model, item: &Placed) -> TokenStream {
    let name = item.ident();
    let ty = handle_type(item);
    let vis = &item.func.vis;
    let docs = item.func.attrs.iter().filter(|attr| attr.path().is_ident("doc"));
    let peer = &item.peer;
    let id = model.items.iter().position(|i| i.ident() == name).unwrap_or(0) as u16;
    let name_str = item.label();
    let output = &item.output;
    let (kind, kind_impl) = match &item.kind {
        Kind::Event { item: event_item, .. } => (
            quote!(::loci::EventKind),
            quote_spanned! {event_item.span()=>
                impl ::loci::PlacedEvent for #ty { type Item = #event_item; }
            },
        ),
        Kind::Signal { item: signal_item } => (
            quote!(::loci::SignalKind),
            quote_spanned! {signal_item.span()=>
                impl ::loci::PlacedSignal for #ty { type Item = #signal_item; }
            },
        ),
        Kind::Function | Kind::Once => {
            let args = args_type(item);
            let output_span = match &item.func.sig.output {
                syn::ReturnType::Type(_, ty) => ty.span(),
                syn::ReturnType::Default => item.func.sig.ident.span(),
            };
            let output = quote_spanned!(output_span=> #output);
            (
                quote!(::loci::FunctionKind),
                quote! {
                    impl ::loci::PlacedFunction for #ty {
                        type Args = #args;
                        type Output = #output;
                    }
                },
            )
        }
        Kind::Local { item: local_item, supplied } => {
            let supplied = supplied.then(|| quote!(impl ::loci::Supplied for #ty { type Item = #local_item; }));
            (quote!(::loci::LocalKind), quote!(#supplied))
        }
        Kind::Block { captures, .. } => {
            let captures = capture_impls(&ty, captures);
            (
                quote!(::loci::FunctionKind),
                quote! {
                    impl ::loci::PlacedFunction for #ty {
                        type Args = ::loci::__private::Captured;
                        type Output = #output;
                    }
                    #captures
                },
            )
        }
    };
    let local = local_access(item);
    let reach = match (&item.kind, &item.requester) {
        // Local state is never reachable from another instance.
        (Kind::Local { .. }, _) => None,
        // A block runs for the code it was written in: only that code's peer may run it. The
        // tie is resolved at the block's context type, where a missing tie is reported.
        (Kind::Block { caller, .. }, _) => {
            let multiplicity = match &item.context {
                Some(context) => quote_spanned!(context.ty.span()=> <#caller as ::loci::Tie<#peer>>::Multiplicity),
                None => quote!(<#caller as ::loci::Tie<#peer>>::Multiplicity),
            };
            Some(quote! {
                impl ::loci::__private::Reach<#caller> for #ty {
                    type Multiplicity = #multiplicity;
                }
            })
        }
        // Only the requester's peer kind may reach an item that takes the requesting remote.
        (_, Some(requester)) => {
            let q = &requester.peer;
            Some(quote! {
                impl ::loci::__private::Reach<#q> for #ty {
                    type Multiplicity = <#q as ::loci::Tie<#peer>>::Multiplicity;
                }
            })
        }
        (_, None) => Some(quote! {
            impl<__P: ::loci::Tie<#peer>> ::loci::__private::Reach<__P> for #ty {
                type Multiplicity = <__P as ::loci::Tie<#peer>>::Multiplicity;
            }
        }),
    };
    quote! {
        #(#docs)*
        #[allow(dead_code)]
        #vis fn #name() -> #ty {
            #ty
        }

        impl ::loci::Placed for #ty {
            type Peer = #peer;
            type Kind = #kind;
            const ID: u16 = #id;
            const NAME: &'static str = #name_str;
        }
        #kind_impl
        #local
        impl ::loci::PlacedOn<#peer> for #ty {}
        #reach
    }
}

/// `impl Capture<N> for Marker { type Type = T; }` for each capture: one impl per capture, so
/// that a capture that cannot travel is reported once, at the capture.
pub(super) fn capture_impls(marker: &TokenStream, captures: &[Capture]) -> TokenStream {
    let impls = captures.iter().enumerate().map(|(index, capture)| {
        let ty = &capture.ty;
        quote_spanned! {capture.ident.span()=>
            impl ::loci::__private::Capture<#index> for #marker {
                type Type = #ty;
            }
        }
    });
    quote!(#(#impls)*)
}

/// Decodes the captures of a lifted block or spore from `__captured` (a byte slice) into
/// `__c0, __c1, ..`, each as its `Capture<N>` type.
pub(crate) fn take_captures(
    marker: &TokenStream,
    captures: &[Capture],
    failure: TokenStream,
) -> (TokenStream, Vec<Ident>) {
    let names: Vec<Ident> = (0..captures.len()).map(|index| format_ident!("__c{}", index)).collect();
    let takes = names.iter().enumerate().map(|(index, name)| {
        quote! {
            let #name = ::loci::__private::take::<#marker, #index>(&mut __captured).map_err(#failure)?;
        }
    });
    (quote!(#(#takes)*), names)
}

/// What `ctx.local(item)` gives on the item's own peer: the instance's value, or a local call
/// of a function. Items that depend on the requesting remote, and lifted blocks, have none.
fn local_access(item: &Placed) -> Option<TokenStream> {
    if item.requester.is_some() || matches!(item.kind, Kind::Block { .. }) {
        return None;
    }
    let ty = handle_type(item);
    let peer = &item.peer;
    let output = &item.output;
    let span = match &item.func.sig.output {
        syn::ReturnType::Type(_, ty) => ty.span(),
        syn::ReturnType::Default => item.func.sig.ident.span(),
    };
    let value = |local: TokenStream| {
        quote_spanned! {span=>
            impl ::loci::__private::LocalAccess<#peer> for #ty {
                type Local = #local;
                fn __local(__ctx: &::loci::Here<#peer>) -> #local {
                    __ctx.__instance_value::<#local>(<Self as ::loci::Placed>::ID, <Self as ::loci::Placed>::NAME)
                }
            }
        }
    };
    Some(match &item.kind {
        Kind::Event { .. } | Kind::Signal { .. } | Kind::Local { .. } => value(quote!(#output)),
        Kind::Once => value(quote!(::std::sync::Arc<#output>)),
        Kind::Block { .. } => return None,
        Kind::Function => {
            let body = body_ident(item.ident());
            let args: Vec<Ident> = (0..item.params.len()).map(|i| format_ident!("__arg{}", i)).collect();
            let ctx =
                item.context.as_ref().map(|context| if context.by_ref { quote!(&__ctx,) } else { quote!(__ctx,) });
            let call = quote!(#body(#ctx #(#args),*));
            let call = if item.is_async() { quote!(#call.await) } else { call };
            let pattern = args_pattern(&args);
            quote! {
                impl ::loci::__private::LocalAccess<#peer> for #ty {
                    type Local = ::loci::LocalCall<#peer, #ty>;
                    fn __local(__ctx: &::loci::Here<#peer>) -> Self::Local {
                        ::loci::LocalCall::__new(::core::clone::Clone::clone(__ctx))
                    }
                }
                impl ::loci::__private::CallLocal<#peer> for #ty {
                    #[allow(unused_variables)]
                    fn __call(
                        __ctx: &::loci::Here<#peer>,
                        __args: <Self as ::loci::PlacedFunction>::Args,
                    ) -> ::loci::__private::BoxFuture<'static, <Self as ::loci::PlacedFunction>::Output> {
                        let #pattern = __args;
                        let __ctx = ::core::clone::Clone::clone(__ctx);
                        ::std::boxed::Box::pin(async move { #call })
                    }
                }
            }
        }
    })
}

/// The pattern that takes apart the arguments tuple: `__arg0` for one, `(__arg0, ..)` otherwise.
fn args_pattern(args: &[Ident]) -> TokenStream {
    match args {
        [one] => quote!(#one),
        many => quote!((#(#many),*)),
    }
}

/// `()` for no parameters, `T` for one, `(A, B, ..)` for several; each spanned at the user's type.
fn args_type(item: &Placed) -> TokenStream {
    let types: Vec<TokenStream> = item.params.iter().map(|(_, ty)| quote_spanned!(ty.span()=> #ty)).collect();
    match types.as_slice() {
        [] => quote!(()),
        [one] => one.clone(),
        many => {
            let span = item.func.sig.inputs.span();
            quote_spanned!(span=> (#(#many),*))
        }
    }
}

/// The user's function under a hidden name; it stays in the module so its paths resolve.
fn body(item: &Placed) -> TokenStream {
    let mut func = item.func.clone();
    func.sig.ident = body_ident(item.ident());
    func.vis = syn::Visibility::Inherited;
    func.attrs.retain(|attr| !attr.path().is_ident("doc"));
    quote! {
        #[doc(hidden)]
        #[allow(clippy::needless_pass_by_value)]
        #func
    }
}

fn main_body(main: &Main) -> TokenStream {
    let mut func = main.func.clone();
    func.sig.ident = main_ident(&main.peer);
    func.vis = syn::Visibility::Inherited;
    quote!(#[doc(hidden)] #[allow(non_snake_case)] #func)
}

/// How the dispatch passes the context to a body that holds `ctx: &Here<Self>` in `__ctx`.
fn context_arg(item: &Placed) -> Option<TokenStream> {
    item.context
        .as_ref()
        .map(|context| if context.by_ref { quote!(__ctx,) } else { quote!(::core::clone::Clone::clone(__ctx),) })
}

fn peer_impl(model: &Model, peer: &Ident) -> TokenStream {
    let index = peer_index(model, peer);
    let name = peer.to_string();
    let placed: Vec<(u16, &Placed)> = model
        .items
        .iter()
        .enumerate()
        .filter(|(_, item)| &item.peer == peer)
        .map(|(id, item)| (id as u16, item))
        .collect();

    let init_arms = placed.iter().filter(|(_, item)| item.is_instance_value()).filter_map(|(id, item)| {
        let body = body_ident(item.ident());
        let ctx = context_arg(item);
        let value = match item.kind {
            Kind::Local { supplied: true, .. } => return None,
            Kind::Event { .. } => quote!({
                let __value = #body(#ctx);
                ::loci::__private::pin_event(&__value);
                __value
            }),
            Kind::Once => quote!(::std::sync::Arc::new(#body(#ctx))),
            _ => quote!(#body(#ctx)),
        };
        Some(quote!(#id => ::core::option::Option::Some(
            ::std::boxed::Box::new(#value) as ::std::boxed::Box<dyn ::core::any::Any + Send + Sync>
        ),))
    });
    let subscribe_arms =
        placed.iter().filter(|(_, item)| matches!(item.kind, Kind::Event { .. } | Kind::Signal { .. })).map(|(id, item)| {
            let ty = handle_type(item);
            let local = quote!(<#ty as ::loci::__private::LocalAccess<#peer>>::__local(__ctx));
            let Some(requester) = &item.requester else {
                return match item.kind {
                    Kind::Signal { .. } => quote!(#id => ::core::option::Option::Some(
                        <#ty as ::loci::PlacedSignal>::__forward(&#local.signal(), __sink)),),
                    _ => quote!(#id => ::core::option::Option::Some(<#ty as ::loci::PlacedEvent>::__forward(&#local, __sink)),),
                };
            };
            let body = body_ident(item.ident());
            let ctx = context_arg(item);
            let requester_peer = &requester.peer;
            let remote = if requester.by_ref { quote!(&__remote) } else { quote!(__remote) };
            let serve = match item.kind {
                Kind::Signal { .. } => quote!(::loci::__private::serve_subjective_signal::<#ty>(__value.signal(), __sink)),
                _ => quote!(::loci::__private::serve_subjective::<#ty>(__value, __sink)),
            };
            quote!(#id => {
                let __remote = __requester.remote::<#requester_peer>()?;
                let __value = #body(#ctx #remote);
                ::core::option::Option::Some(#serve)
            })
        });
    let call_arms = placed
        .iter()
        .filter(|(_, item)| matches!(item.kind, Kind::Function | Kind::Once | Kind::Block { .. }))
        .map(|(id, item)| {
        let handle = handle_type(item);
        if let Kind::Block { captures, caller } = &item.kind {
            let body = body_ident(item.ident());
            let (takes, names) = take_captures(
                &handle,
                captures,
                quote!(|error| ::loci::__private::Failure::BadArguments(error.to_string())),
            );
            let ctx = match &item.context {
                Some(context) if !context.by_ref => quote!(__ctx),
                _ => quote!(&__ctx),
            };
            let call = quote!(#body(#ctx, #(#names),*));
            let call = if item.is_async() { quote!(#call.await) } else { call };
            return quote! {
                #id => {
                    if __requester.peer() != <#caller as ::loci::Peer>::INDEX {
                        return ::core::result::Result::Err(::loci::__private::Failure::NotForCaller(
                            <#caller as ::loci::Peer>::NAME.into(),
                        ));
                    }
                    let mut __captured: &[u8] = &__args;
                    #takes
                    if !__captured.is_empty() {
                        return ::core::result::Result::Err(::loci::__private::Failure::BadArguments(
                            "bytes left over after the captures".into(),
                        ));
                    }
                    let __ctx = ::core::clone::Clone::clone(__ctx);
                    ::core::result::Result::Ok(::std::boxed::Box::pin(async move {
                        let __output = #call;
                        <#handle as ::loci::PlacedFunction>::__encode_output(&__output)
                    }))
                }
            };
        }
        if let Kind::Once = item.kind {
            return quote! {
                #id => {
                    let __value = <#handle as ::loci::__private::LocalAccess<#peer>>::__local(__ctx);
                    ::core::result::Result::Ok(::std::boxed::Box::pin(async move {
                        <#handle as ::loci::PlacedFunction>::__encode_output(&*__value)
                    }))
                }
            };
        }
        let body = body_ident(item.ident());
        let args: Vec<Ident> = (0..item.params.len()).map(|i| format_ident!("__arg{}", i)).collect();
        let ctx = item.context.as_ref().map(|context| if context.by_ref { quote!(&__ctx,) } else { quote!(__ctx,) });
        let (requester, remote) = match &item.requester {
            Some(requester) => {
                let q = &requester.peer;
                let remote = if requester.by_ref { quote!(&__remote,) } else { quote!(__remote,) };
                (
                    quote!(let __remote = __requester.remote::<#q>().ok_or(::loci::__private::Failure::NotForCaller(<#q as ::loci::Peer>::NAME.into()))?;),
                    remote,
                )
            }
            None => (TokenStream::new(), TokenStream::new()),
        };
        let call = quote!(#body(#ctx #remote #(#args),*));
        let call = if item.is_async() { quote!(#call.await) } else { call };
        let pattern = args_pattern(&args);
        quote! {
            #id => {
                #requester
                let #pattern = <#handle as ::loci::PlacedFunction>::__decode_args(&__args)?;
                let __ctx = ::core::clone::Clone::clone(__ctx);
                ::core::result::Result::Ok(::std::boxed::Box::pin(async move {
                    let __output = #call;
                    <#handle as ::loci::PlacedFunction>::__encode_output(&__output)
                }))
            }
        }
    });
    let spore_arms = spore_arms(model, peer);
    let spore_signatures =
        model.spores.iter().filter(|spore| spore.peer.as_ref().is_none_or(|p| p == peer)).map(|spore| {
            let (id, name) = (spore.id, &spore.func.sig.ident);
            quote!(#id => ::core::option::Option::Some((
            ::core::any::TypeId::of::<<__loci_spore::#name as ::loci::__private::SporeFn>::Input>(),
            ::core::any::TypeId::of::<<__loci_spore::#name as ::loci::__private::SporeFn>::Output>(),
        )),)
        });
    let main = model.mains.iter().find(|main| &main.peer == peer).map_or_else(
        || quote!(::core::option::Option::None),
        |main| {
            let ident = main_ident(&main.peer);
            quote!(::core::option::Option::Some(::std::boxed::Box::pin(async move {
                ::loci::__private::MainOutput::into_result(#ident(__ctx).await)
            })))
        },
    );
    quote! {
        impl ::loci::Peer for #peer {
            type Module = __LociModule;
            const INDEX: u16 = #index;
            const NAME: &'static str = #name;

            #[allow(unused_variables, unreachable_code)]
            fn __init_value(__ctx: &::loci::Here<Self>, __item: u16) -> ::core::option::Option<::std::boxed::Box<dyn ::core::any::Any + Send + Sync>> {
                match __item {
                    #(#init_arms)*
                    _ => ::core::option::Option::None,
                }
            }

            #[allow(unused_variables, unreachable_code)]
            fn __serve_call(
                __ctx: &::loci::Here<Self>,
                __item: u16,
                __args: ::loci::__private::Bytes,
                __requester: &::loci::__private::Requester,
            ) -> ::core::result::Result<
                ::loci::__private::BoxFuture<'static, ::core::result::Result<::std::vec::Vec<u8>, ::loci::__private::Failure>>,
                ::loci::__private::Failure,
            > {
                match __item {
                    #(#call_arms)*
                    _ => ::core::result::Result::Err(::loci::__private::Failure::UnknownItem(__item)),
                }
            }

            #[allow(unused_variables, unreachable_code)]
            fn __serve_subscribe(
                __ctx: &::loci::Here<Self>,
                __item: u16,
                __sink: ::loci::__private::EventSink,
                __requester: &::loci::__private::Requester,
            ) -> ::core::option::Option<::loci::__private::Observation> {
                match __item {
                    #(#subscribe_arms)*
                    _ => ::core::option::Option::None,
                }
            }

            #[allow(unused_variables, unused_mut, unreachable_code)]
            fn __apply_spore(
                __ctx: &::loci::Here<Self>,
                __spore: u16,
                __captures: &[u8],
                __input: &[u8],
            ) -> ::core::result::Result<::std::vec::Vec<u8>, ::loci::__private::SporeFailure> {
                match __spore {
                    #(#spore_arms)*
                    _ => ::core::result::Result::Err(::loci::__private::SporeFailure::NotHere),
                }
            }

            #[allow(unreachable_code)]
            fn __spore_signature(__spore: u16) -> ::core::option::Option<(::core::any::TypeId, ::core::any::TypeId)> {
                match __spore {
                    #(#spore_signatures)*
                    _ => ::core::option::Option::None,
                }
            }

            #[allow(unused_variables)]
            fn __main(__ctx: ::loci::Here<Self>) -> ::core::option::Option<::loci::__private::BoxFuture<'static, ::loci::Result<()>>> {
                #main
            }
        }
    }
}

/// A canonical text of everything both sides must agree on, hashed.
fn fingerprint(model: &Model) -> [u8; 16] {
    let mut canonical = format!("module {}\n", model.ident);
    for peer in &model.peers {
        canonical += &format!("peer {}", peer.ident());
        for tie in &peer.ties {
            let name = tie.name.as_ref().map_or_else(String::new, |name| format!("{name}:"));
            canonical += &format!(" {name}{}={}<{}", tie.peer, tie.multiplicity.name(), tie.back.unwrap_or(0));
        }
        canonical.push('\n');
    }
    for item in &model.items {
        let mut params: Vec<String> = item.params.iter().map(|(_, ty)| ty.to_token_stream().to_string()).collect();
        // A lifted block is named by where it is written, its signature by its captures.
        let item_name = item.label();
        if let Some(requester) = &item.requester {
            params.push(format!("per {}", requester.peer));
        }
        let kind = match item.kind {
            Kind::Event { lossy: false, .. } => "event",
            Kind::Event { lossy: true, .. } => "lossy event",
            Kind::Signal { .. } => "signal",
            Kind::Function => "fn",
            Kind::Local { supplied: false, .. } => "local",
            Kind::Local { supplied: true, .. } => "supplied",
            Kind::Once => "once",
            Kind::Block { .. } => "block",
        };
        canonical += &format!(
            "{kind} {} on {} ({}) -> {}\n",
            item_name,
            item.peer,
            params.join(", "),
            item.output.to_token_stream()
        );
    }
    for spore in &model.spores {
        let captures: Vec<String> = spore.captures.iter().map(|c| c.ty.to_token_stream().to_string()).collect();
        let peer = spore.peer.as_ref().map_or_else(|| "any".to_owned(), ToString::to_string);
        // A spore outlives connections (it may be stored), so its code is part of the build.
        canonical += &format!(
            "spore {} in {} on {peer} ({}) {} -> {} {}\n",
            spore.id,
            spore.owner,
            captures.join(", "),
            spore.input.to_token_stream(),
            spore.output.to_token_stream(),
            spore.func.block.to_token_stream()
        );
    }
    // Types defined in the module travel too: a changed field must change the fingerprint.
    for item in &model.shared {
        if matches!(item, Item::Struct(_) | Item::Enum(_) | Item::Type(_)) {
            canonical += &format!("type {}\n", item.to_token_stream());
        }
    }
    let digest = Sha256::digest(canonical.as_bytes());
    let mut fingerprint = [0; 16];
    fingerprint.copy_from_slice(&digest[..16]);
    fingerprint
}

fn module_spec(model: &Model) -> TokenStream {
    let module_name = model.ident.to_string();
    let fingerprint = fingerprint(model);
    let peers = model.peers.iter().map(|peer| {
        let name = peer.ident().to_string();
        let ties = peer.ties.iter().map(|tie| {
            let index = peer_index(model, &tie.peer);
            let multiplicity = Ident::new(tie.multiplicity.name(), Span::call_site());
            let name = match &tie.name {
                Some(name) => {
                    let name = name.to_string();
                    quote!(::core::option::Option::Some(#name))
                }
                None => quote!(::core::option::Option::None),
            };
            let back = tie.back.unwrap_or(0) as u16;
            quote!(::loci::__private::TieSpec {
                peer: #index,
                multiplicity: ::loci::__private::Multiplicity::#multiplicity,
                name: #name,
                back: #back,
            })
        });
        quote!(::loci::__private::PeerSpec { name: #name, ties: &[#(#ties),*] })
    });
    let items = model.items.iter().map(|item| {
        let name = item.label();
        let peer = peer_index(model, &item.peer);
        let (kind, supplied) = match item.kind {
            Kind::Event { lossy: false, .. } => (quote!(Event), false),
            Kind::Event { lossy: true, .. } => (quote!(LossyEvent), false),
            Kind::Signal { .. } => (quote!(Signal), false),
            Kind::Function => (quote!(Function), false),
            Kind::Once => (quote!(Once), false),
            Kind::Block { .. } => (quote!(Function), false),
            Kind::Local { supplied, .. } => (quote!(Local), supplied),
        };
        let per_remote = item.requester.is_some();
        quote!(::loci::__private::ItemSpec {
            name: #name,
            peer: #peer,
            kind: ::loci::__private::ItemKind::#kind,
            per_remote: #per_remote,
            supplied: #supplied,
        })
    });
    quote! {
        impl ::loci::Module for __LociModule {
            const SPEC: ::loci::__private::ModuleSpec = ::loci::__private::ModuleSpec {
                name: #module_name,
                fingerprint: [#(#fingerprint),*],
                peers: &[#(#peers),*],
                items: &[#(#items),*],
            };
        }
    }
}
