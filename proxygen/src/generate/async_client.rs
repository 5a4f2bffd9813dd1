//! `<Trait>AsyncClient<C>`: the same methods as `async fn`s over an `AsyncChannel`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Names, Signature, callbacks, doc, docs, route};
use crate::model::{CallMode, Method, Service};

pub(super) fn generate(service: &Service, names: &Names) -> TokenStream {
    let Names { rt, wire, async_client, proxy, .. } = names;
    let vis = &service.vis;
    let trait_name = &service.name;
    let trait_str = trait_name.to_string();
    let struct_doc = doc(&format!(
        "Async client of [`{trait_name}`]: every method of the trait as an `async fn`, over an async\n\
         channel (for tokio applications). Failure handling and one-way calls work as for\n\
         [`{proxy}`]; waits between retries use `tokio::time::sleep`. Connect the channel with\n\
         [`{wire}::client_config`]."
    ));
    let fingerprint_doc = doc(&format!("The interface fingerprint; see [`{wire}::FINGERPRINT`]."));
    let trait_docs = docs(&service.docs);
    let trait_doc_sep = (!service.docs.is_empty()).then(|| quote!(#[doc = ""]));
    let methods = service.methods.iter().map(|method| async_method(method, names));
    quote! {
        #struct_doc
        #trait_doc_sep
        #trait_docs
        #vis struct #async_client<C> {
            core: #rt::AsyncCore<C>,
        }

        impl<C: #rt::AsyncChannel> #async_client<C> {
            #fingerprint_doc
            pub const FINGERPRINT: u64 = #wire::FINGERPRINT;

            /// A client calling over `channel`, with the default failure handler and no timeout.
            pub fn new(channel: C) -> Self {
                Self { core: #rt::AsyncCore::new(#trait_str, channel) }
            }

            /// Gives each attempt of a two-way call `timeout` to complete. Default: no timeout.
            pub fn with_timeout(mut self, timeout: ::std::time::Duration) -> Self {
                self.core.set_timeout(Some(timeout));
                self
            }

            /// Replaces the failure handler of implicit methods. Default: `RetryUntil::default()`.
            pub fn with_failure_handler(mut self, handler: ::std::sync::Arc<dyn #rt::FailureHandler>) -> Self {
                self.core.set_failure_handler(handler);
                self
            }

            /// The channel.
            pub fn channel(&self) -> &C {
                self.core.channel()
            }

            /// Resolves once queued one-way calls are written, with the first failure among them
            /// known by then.
            pub async fn flush(&self) -> ::std::result::Result<(), #rt::RemoteError> {
                self.core.channel().flush().await
            }

            #(#methods)*
        }
    }
}

fn async_method(method: &Method, names: &Names) -> TokenStream {
    let Names { rt, wire, .. } = names;
    let name = &method.name;
    let name_str = name.to_string();
    let id = Names::id(method);
    let args_struct = Names::args(method);
    let Signature { sent_names, params, output, returns: signature_output, .. } = Signature::of(method);
    let method_docs = docs(&method.docs);
    let encode = quote! {
        let hatch_request = #rt::encode(&#wire::#args_struct { #(#sent_names),* });
    };
    let body = match method.mode {
        CallMode::OneWay => quote! {
            #encode
            self.core.send(#wire::#id, #name_str, &hatch_request).await
        },
        CallMode::TwoWay if method.converses() => {
            let route = route(method, rt);
            let callbacks = callbacks(method, rt);
            quote! {
                #encode
                let mut hatch_callbacks = #callbacks;
                self.core
                    .converse(#wire::#id, #name_str, &hatch_request, &mut hatch_callbacks, #rt::decode::<#output>, #route)
                    .await
            }
        }
        CallMode::TwoWay => {
            let route = route(method, rt);
            quote! {
                #encode
                self.core.call(#wire::#id, #name_str, &hatch_request, #rt::decode::<#output>, #route).await
            }
        }
    };
    quote! {
        #method_docs
        pub async fn #name(&self, #(#params),*) #signature_output {
            #body
        }
    }
}
