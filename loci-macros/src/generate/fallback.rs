//! What is emitted next to errors: the module whole with its function bodies replaced (when
//! the errors are all inside bodies), or a reduced module without loci's traits.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{Ident, Item, ItemMod};

use crate::model::Model;

/// Whether `tokens` invoke `remote!` or `spore!`.
fn uses_lifted_macros(tokens: TokenStream) -> bool {
    let mut previous: Option<proc_macro2::TokenTree> = None;
    for tree in tokens {
        if let (Some(proc_macro2::TokenTree::Ident(ident)), proc_macro2::TokenTree::Punct(punct)) = (&previous, &tree) {
            if punct.as_char() == '!' && (ident == "remote" || ident == "spore") {
                return true;
            }
        }
        if let proc_macro2::TokenTree::Group(group) = &tree {
            if uses_lifted_macros(group.stream()) {
                return true;
            }
        }
        previous = Some(tree);
    }
    false
}

/// Replaces the body of every function of the module with `unreachable!()`, for a module
/// emitted next to errors found only inside bodies: the compilation fails with those errors,
/// and nothing of the bodies can add more. A function returning `impl Trait` keeps its body,
/// which `unreachable!()` could not stand in for.
pub fn stub_bodies(model: &mut Model) {
    fn stub(func: &mut syn::ItemFn) {
        if matches!(&func.sig.output, syn::ReturnType::Type(_, ty) if matches!(**ty, syn::Type::ImplTrait(_))) {
            return;
        }
        *func.block = syn::parse_quote!({ ::core::unreachable!() });
        func.attrs.push(syn::parse_quote!(#[allow(unused)]));
    }
    model.items.iter_mut().for_each(|item| stub(&mut item.func));
    model.mains.iter_mut().for_each(|main| stub(&mut main.func));
    model.spores.iter_mut().for_each(|spore| stub(&mut spore.func));
    for item in &mut model.shared {
        if let Item::Fn(func) = item {
            if crate::model::here_peer_in(&func.sig).is_some() {
                // Checked as code of its peer: the errors may be in it.
                stub(func);
            } else {
                // Kept: it was not checked, so none of the errors is in it; a variable it
                // bound for a block or spore whose body is replaced is not a mistake of its own.
                func.attrs.push(syn::parse_quote!(#[allow(unused)]));
            }
        }
    }
}

/// What is emitted next to the errors: the module with placement stripped and every placed
/// item reduced to its handle, so that code naming the items does not add follow-up errors.
pub fn fallback(module: &ItemMod) -> TokenStream {
    let Some((_, items)) = &module.content else { return TokenStream::new() };
    let strip =
        |attrs: &mut Vec<syn::Attribute>| attrs.retain(|a| !a.path().is_ident("peer") && !a.path().is_ident("on"));
    let mut emitted: Vec<Ident> = Vec::new();
    let mut first = |ident: &Ident| {
        let new = !emitted.contains(ident);
        emitted.push(ident.clone());
        new
    };
    let items: Vec<TokenStream> = items
        .iter()
        .filter_map(|item| match item {
            Item::Fn(func) if func.sig.ident == "main" => None,
            Item::Fn(func) if func.attrs.iter().any(|a| a.path().is_ident("on")) => {
                let (vis, ident) = (&func.vis, &func.sig.ident);
                first(ident).then(|| quote!(#vis fn #ident() {}))
            }
            Item::Fn(func) if crate::model::here_peer_in(&func.sig).is_some() => None,
            Item::Fn(func) => {
                let mut func = func.clone();
                func.attrs.retain(|a| !["once", "lossy", "peer"].iter().any(|name| a.path().is_ident(name)));
                // Remote blocks and spores are only understood by the full expansion.
                if uses_lifted_macros(func.block.to_token_stream()) {
                    func.block = Box::new(syn::parse_quote!({ ::core::unreachable!() }));
                }
                Some(func.into_token_stream())
            }
            Item::Verbatim(tokens) => match syn::parse2::<syn::ForeignItemFn>(tokens.clone()) {
                Ok(func) if func.attrs.iter().any(|a| a.path().is_ident("on")) => {
                    let (vis, ident) = (&func.vis, &func.sig.ident);
                    first(ident).then(|| quote!(#vis fn #ident() {}))
                }
                _ => Some(item.into_token_stream()),
            },
            Item::Struct(item) => {
                let mut item = item.clone();
                strip(&mut item.attrs);
                first(&item.ident).then(|| item.into_token_stream())
            }
            // `#[peer]` or `#[on]` on another item is reported already; the attribute goes.
            other => {
                let mut other = other.clone();
                if let Some(attrs) = crate::parse::item_attrs_mut(&mut other) {
                    strip(attrs);
                }
                Some(other.into_token_stream())
            }
        })
        .collect();
    let (attrs, vis, ident) = (&module.attrs, &module.vis, &module.ident);
    quote! {
        #(#attrs)*
        #[allow(unused, dead_code)]
        #vis mod #ident {
            #(#items)*
        }
    }
}
