//! The `#[multitier]` attribute of loci. Users depend on the `loci` crate, which re-exports it.
//!
//! Expansion runs in five phases, one file each:
//! [`parse`] reads the module into an AST of peers, placed items and shared items;
//! [`model`] resolves what each placed item is (event, signal, function, local state, `main`)
//! and its signature;
//! [`lift`] turns remote blocks and spores into model entries of the peers they run on;
//! [`check`] validates the architecture (ties, placements, names, bodies, captures) and
//! [`generate`] writes the handles, trait impls, dispatch and module spec.
//! Errors from all phases are gathered and reported together; on error the module is still
//! emitted in a reduced form, so one mistake yields one error instead of a cascade.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use std::cell::RefCell;

mod check;
mod generate;
mod lift;
mod model;
mod parse;

/// Turns an inline module into a multitier program. See the `loci` crate for the guide.
#[proc_macro_attribute]
pub fn multitier(args: TokenStream, input: TokenStream) -> TokenStream {
    let module = syn::parse_macro_input!(input as syn::ItemMod);
    expand(args.into(), module).into()
}

fn expand(args: TokenStream2, module: syn::ItemMod) -> TokenStream2 {
    let errors = Errors::default();
    if !args.is_empty() {
        errors.push(syn::Error::new_spanned(&args, "`#[multitier]` takes no arguments; write `#[loci::multitier]`"));
    }
    let mut model = parse::module(&errors, &module).map(|ast| model::build(&errors, ast));
    if let Some(model) = &mut model {
        lift::module(&errors, model);
    }
    if let Some(model) = &model {
        check::module(&errors, model);
    }
    let only_in_bodies = errors.only_in_bodies();
    match (errors.finish(), model) {
        (None, Some(model)) => generate::module(&model),
        // The architecture holds and only code inside functions is wrong: the module is
        // emitted whole with every function body replaced, so that code using it, inside or
        // outside the module, type-checks and the errors stay the only ones.
        (Some(error), Some(mut model)) if only_in_bodies => {
            generate::stub_bodies(&mut model);
            let error = error.to_compile_error();
            let module = generate::module(&model);
            quote::quote! { #error #module }
        }
        (error, _) => {
            let error = error.map(|e| e.to_compile_error());
            let fallback = generate::fallback(&module);
            quote::quote! { #error #fallback }
        }
    }
}

/// Errors gathered across phases, reported together (as serde_derive does). Dropping it
/// without [`Errors::finish`] panics, so that no path of the expansion loses gathered errors.
#[derive(Default)]
pub(crate) struct Errors {
    errors: RefCell<Vec<syn::Error>>,
    finished: std::cell::Cell<bool>,
    /// Whether an error is about the module's architecture or declarations, not only about
    /// code inside function bodies.
    beyond_bodies: std::cell::Cell<bool>,
}

impl Errors {
    pub fn push(&self, error: syn::Error) {
        self.beyond_bodies.set(true);
        self.errors.borrow_mut().push(error);
    }

    pub fn spanned(&self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// An error in the code of a function body, found on a model that is otherwise whole.
    pub fn in_body(&self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.errors.borrow_mut().push(syn::Error::new_spanned(tokens, message));
    }

    /// Whether every error so far is one [`Errors::in_body`] reported.
    fn only_in_bodies(&self) -> bool {
        !self.beyond_bodies.get()
    }

    fn finish(self) -> Option<syn::Error> {
        self.finished.set(true);
        self.errors.take().into_iter().reduce(|mut all, next| {
            all.combine(next);
            all
        })
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        if !self.finished.get() && !std::thread::panicking() {
            panic!("`Errors` dropped without `finish`: the errors gathered so far would be lost");
        }
    }
}
