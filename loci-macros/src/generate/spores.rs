//! Spores: the descriptor of each spore and each peer's spore dispatch.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Ident;

use super::{capture_impls, take_captures};
use crate::model::{Model, Spore};

/// The descriptor of a spore: its target peer, input, output and captures, each spanned at
/// the user's code.
pub(super) fn spore_impl(spore: &Spore) -> TokenStream {
    let name = &spore.func.sig.ident;
    let marker = quote!(__loci_spore::#name);
    let target = spore.peer.as_ref().map_or_else(|| quote!(::loci::Anywhere), |peer| quote!(#peer));
    let (input, output, id) = (&spore.input, &spore.output, spore.id);
    let input = quote_spanned!(input.span()=> #input);
    let output = quote_spanned!(output.span()=> #output);
    let captures = capture_impls(&marker, &spore.captures);
    quote! {
        impl ::loci::__private::SporeFn for #marker {
            type Module = __LociModule;
            type Target = #target;
            type Input = #input;
            type Output = #output;
            const ID: u16 = #id;
        }
        #captures
    }
}

/// The arms of a peer's spore dispatch: the spores written for it, and those for any peer.
pub(super) fn spore_arms(model: &Model, peer: &Ident) -> Vec<TokenStream> {
    model
        .spores
        .iter()
        .filter(|spore| spore.peer.as_ref().is_none_or(|p| p == peer))
        .map(|spore| {
            let name = &spore.func.sig.ident;
            let marker = quote!(__loci_spore::#name);
            let id = spore.id;
            let codec = quote!(|error| ::loci::__private::SporeFailure::Codec(error.to_string()));
            let (takes, names) = take_captures(&marker, &spore.captures, codec.clone());
            let ctx = spore.context.as_ref().map(|context| {
                if context.by_ref {
                    quote!(__ctx,)
                } else {
                    quote!(::core::clone::Clone::clone(__ctx),)
                }
            });
            quote! {
                #id => {
                    let mut __captured: &[u8] = __captures;
                    #takes
                    if !__captured.is_empty() {
                        return ::core::result::Result::Err(::loci::__private::SporeFailure::Codec(
                            "bytes left over after the captures".into(),
                        ));
                    }
                    let __in = ::loci::__private::take_input::<#marker>(__input).map_err(#codec)?;
                    let __out = #name(#ctx #(#names,)* __in);
                    ::loci::__private::encode_output::<#marker>(&__out).map_err(#codec)
                }
            }
        })
        .collect()
}
