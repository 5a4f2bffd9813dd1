//! `<Trait>Server`: the dispatcher that reads arguments in place and calls an implementation.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Names, doc};
use crate::model::{ArgKind, Method, Output, Service};

pub(super) fn generate(service: &Service, names: &Names) -> TokenStream {
    let Names { rt, wire, server, proxy, .. } = names;
    let vis = &service.vis;
    let trait_name = &service.name;
    let struct_doc = doc(&format!(
        "Server dispatcher of [`{trait_name}`]: answers the calls of a `{proxy}` (or async client) by\n\
         calling an implementation. Arguments are validated in place in the receive buffer; `&str` and\n\
         `&[u8]` arguments are lent straight from it, other arguments are deserialised. Serve it with\n\
         [`{wire}::server_config`] so the handshake checks the interface fingerprint."
    ));
    let fingerprint_doc = doc(&format!("The interface fingerprint; see [`{wire}::FINGERPRINT`]."));
    let arms = service.methods.iter().map(|method| arm(method, names));
    // Methods without arguments never read the payload; if no method has any, say so, or the
    // generated code would warn about an unused variable.
    let ignore_payload = service.methods.iter().all(|method| method.args.is_empty()).then(|| quote!(let _ = payload;));
    quote! {
        #struct_doc
        #vis struct #server {
            inner: ::std::sync::Arc<dyn #trait_name>,
        }

        impl #server {
            #fingerprint_doc
            pub const FINGERPRINT: u64 = #wire::FINGERPRINT;

            /// A dispatcher calling `inner`.
            pub fn new(inner: ::std::sync::Arc<dyn #trait_name>) -> Self {
                Self { inner }
            }
        }

        impl #rt::Service for #server {
            fn call(
                &self,
                method: #rt::MethodId,
                payload: &#rt::Bytes,
                reply: &mut ::std::vec::Vec<u8>,
            ) -> ::std::result::Result<(), #rt::ServiceError> {
                #ignore_payload
                match method {
                    #(#arms)*
                    _ => Err(#rt::ServiceError::unknown_method(method)),
                }
            }
        }
    }
}

fn arm(method: &Method, names: &Names) -> TokenStream {
    let Names { rt, wire, .. } = names;
    let name = &method.name;
    let id = Names::id(method);
    let archived = Names::archived_args(method);
    let lifetime = method.borrows().then(|| quote!(<'_>));
    let access =
        (!method.args.is_empty()).then(|| quote!(let args = #rt::access::<#wire::#archived #lifetime>(payload)?;));
    let values = method.args.iter().map(|arg| {
        let field = &arg.name;
        match &arg.kind {
            ArgKind::Owned => {
                let ty = &arg.ty;
                quote!(#rt::field::<#ty>(&args.#field)?)
            }
            ArgKind::BorrowedInPlace => quote!(&args.#field),
            ArgKind::BorrowedCopy { pointee } => {
                quote! {
                    <::std::boxed::Box<#pointee> as ::std::convert::AsRef<#pointee>>::as_ref(
                        &#rt::field::<::std::boxed::Box<#pointee>>(&args.#field)?,
                    )
                }
            }
        }
    });
    let call = quote!(self.inner.#name(#(#values),*));
    let body = match method.output {
        Output::Unit => quote! {
            #call;
            Ok(())
        },
        Output::Value { .. } => quote!(#rt::reply(&#call, reply)),
    };
    quote! {
        #wire::#id => {
            #access
            #body
        }
    }
}
