//! `<Trait>Proxy`: the blocking client, which implements the trait itself.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Names, Signature, callbacks, doc, docs, route};
use crate::model::{CallMode, Method, Service};

pub(super) fn generate(service: &Service, names: &Names) -> TokenStream {
    let Names { rt, wire, proxy, server, .. } = names;
    let vis = &service.vis;
    let trait_name = &service.name;
    let trait_str = trait_name.to_string();
    let struct_doc = doc(&format!(
        "Remote proxy of [`{trait_name}`]: implements the trait by calling a `{server}` over a blocking\n\
         channel, so it can replace a local implementation behind `Arc<dyn {trait_name}>`.\n\
         \n\
         Connect the channel with [`{wire}::client_config`] so the handshake checks the interface\n\
         fingerprint. Methods returning `Result<T, E>` with `E: From<RemoteError>` are *explicit*: a\n\
         transport failure becomes `Err(E::from(error))`. All others are *implicit*: failures go to the\n\
         proxy's failure handler (default: retry transport failures for 10 s with backoff, then panic).\n\
         Methods returning `()` without `#[hatch::sync]` are sent as one-way calls and batched; [`{proxy}::flush`]\n\
         waits for them and reports their failures.\n\
         \n\
         The target can be switched at any time, also from a failure handler, with\n\
         [`{proxy}::set_channel`] or [`{proxy}::set_local`] (e.g. to move a component back and re-fire the call)."
    ));
    let fingerprint_doc = doc(&format!("The interface fingerprint; see [`{wire}::FINGERPRINT`]."));
    let trait_docs = docs(&service.docs);
    let trait_doc_sep = (!service.docs.is_empty()).then(|| quote!(#[doc = ""]));
    let methods = service.methods.iter().map(|method| proxy_method(method, names));
    // A proxy carries no state of its own: the trait's default (`None`) is right.
    let component_impl = service.component.as_ref().map(|path| quote!(impl #path for #proxy {}));
    quote! {
        #struct_doc
        #trait_doc_sep
        #trait_docs
        #vis struct #proxy {
            core: #rt::ProxyCore<dyn #trait_name>,
        }

        impl #proxy {
            #fingerprint_doc
            pub const FINGERPRINT: u64 = #wire::FINGERPRINT;

            /// A proxy calling over `channel`, with the default failure handler and no timeout.
            pub fn new(channel: ::std::sync::Arc<dyn #rt::Channel>) -> Self {
                Self { core: #rt::ProxyCore::new(#trait_str, channel) }
            }

            /// Gives each attempt of a two-way call `timeout` to complete. Default: no timeout.
            pub fn with_timeout(mut self, timeout: ::std::time::Duration) -> Self {
                self.core.set_timeout(Some(timeout));
                self
            }

            /// Replaces the failure handler of implicit methods. Default: `RetryUntil::default()`.
            pub fn with_failure_handler(self, handler: ::std::sync::Arc<dyn #rt::FailureHandler>) -> Self {
                self.core.set_failure_handler(handler);
                self
            }

            /// Replaces the failure handler of implicit methods, for calls failing from now on.
            pub fn set_failure_handler(&self, handler: ::std::sync::Arc<dyn #rt::FailureHandler>) {
                self.core.set_failure_handler(handler);
            }

            /// Sends later calls, and retries of failing ones, over `channel`.
            pub fn set_channel(&self, channel: ::std::sync::Arc<dyn #rt::Channel>) {
                self.core.set_target(#rt::Target::Remote(channel));
            }

            /// Runs later calls, and retries of failing ones, on `local`, in-process.
            pub fn set_local(&self, local: ::std::sync::Arc<dyn #trait_name>) {
                self.core.set_target(#rt::Target::Local(local));
            }

            /// Waits until queued one-way calls are written and reports the first failure among them
            /// known by then.
            pub fn flush(&self) -> ::std::result::Result<(), #rt::RemoteError> {
                self.core.flush()
            }
        }

        impl #trait_name for #proxy {
            #(#methods)*
        }

        #component_impl
    }
}

fn proxy_method(method: &Method, names: &Names) -> TokenStream {
    let Names { rt, wire, .. } = names;
    let name = &method.name;
    let name_str = name.to_string();
    let id = Names::id(method);
    let args_struct = Names::args(method);
    let Signature { arg_names, sent_names, params, output, returns: signature_output } = Signature::of(method);
    let encode = quote! {
        let hatch_args = #wire::#args_struct { #(#sent_names),* };
        let hatch_request = #rt::encode(&hatch_args);
    };
    let local = quote! {
        let #wire::#args_struct { #(#sent_names),* } = hatch_args;
        hatch_local.#name(#(#arg_names),*)
    };
    let body = match method.mode {
        CallMode::OneWay => quote! {
            #encode
            if let #rt::Outcome::Local(hatch_local) = self.core.send(#wire::#id, #name_str, &hatch_request) {
                #local
            }
        },
        CallMode::TwoWay if method.converses() => {
            let route = route(method, rt);
            let callbacks = callbacks(method, rt);
            quote! {
                #encode
                let mut hatch_callbacks = #callbacks;
                let hatch_outcome = self.core.converse(
                    #wire::#id, #name_str, &hatch_request, &mut hatch_callbacks, #rt::decode::<#output>, #route,
                );
                match hatch_outcome {
                    #rt::Outcome::Reply(hatch_reply) => hatch_reply,
                    #rt::Outcome::Local(hatch_local) => {
                        #local
                    }
                }
            }
        }
        CallMode::TwoWay => {
            let route = route(method, rt);
            quote! {
                #encode
                match self.core.call(#wire::#id, #name_str, &hatch_request, #rt::decode::<#output>, #route) {
                    #rt::Outcome::Reply(hatch_reply) => hatch_reply,
                    #rt::Outcome::Local(hatch_local) => {
                        #local
                    }
                }
            }
        }
    };
    quote! {
        fn #name(&self, #(#params),*) #signature_output {
            #body
        }
    }
}
