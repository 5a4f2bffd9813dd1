//! `<Trait>Server`: the dispatcher that reads arguments in place and calls an implementation.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Names, doc, sibling};
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
    let conversation_doc = service.methods.iter().any(Method::converses).then(|| {
        doc("\n\
             Methods with interface arguments (`&dyn Other`) run as conversations: the implementation runs\n\
             on a worker thread and gets an `OtherProxy` whose calls go back to the caller's object.")
    });
    let fingerprint_doc = doc(&format!("The interface fingerprint; see [`{wire}::FINGERPRINT`]."));
    let dispatch_doc = doc(&format!(
        "Answers one call on a borrowed implementation: what a caller runs when a callee calls back\n\
         into the `&dyn {trait_name}` it was given. Methods that themselves take interface arguments\n\
         cannot be called back this way and get a `BadRequest` error."
    ));
    let borrowed_arms = service.methods.iter().map(|method| borrowed_arm(method, names));
    let conversation_arms =
        service.methods.iter().filter(|method| method.converses()).map(|m| conversation_arm(m, names));
    // Methods without arguments never read the payload; if no method has any, say so, or the
    // generated code would warn about an unused variable.
    let ignore_payload = service
        .methods
        .iter()
        .all(|method| method.converses() || method.sent_args().next().is_none())
        .then(|| quote!(let _ = payload;));
    // An interface whose every method converses has nothing `dispatch_to` can call.
    let ignore_inner = service.methods.iter().all(Method::converses).then(|| quote!(let _ = (inner, reply);));
    // Only interfaces with conversational methods carry the conversation machinery.
    let converses = service.methods.iter().any(Method::converses);
    let conversations_field = converses.then(|| quote!(conversations: #rt::Conversations,));
    let conversations_init = converses.then(|| quote!(conversations: #rt::Conversations::new(),));
    let conversations_methods = converses.then(|| {
        quote! {
            /// Replaces the limits of conversations (methods with interface arguments).
            pub fn with_conversations(mut self, conversations: #rt::Conversations) -> Self {
                self.conversations = conversations;
                self
            }

            /// The conversations (calls of methods with interface arguments): how many are open,
            /// how many implementations run.
            pub fn conversations(&self) -> &#rt::Conversations {
                &self.conversations
            }
        }
    });
    let dispatch = quote!(Self::dispatch_to(&*self.inner, method, payload, reply));
    let body = if converses {
        quote! {
            match method {
                #(#conversation_arms)*
                #rt::CONTINUE => self.conversations.resume(payload, reply),
                _ => #dispatch,
            }
        }
    } else {
        dispatch
    };
    quote! {
        #struct_doc
        #conversation_doc
        #vis struct #server {
            inner: ::std::sync::Arc<dyn #trait_name>,
            #conversations_field
        }

        impl #server {
            #fingerprint_doc
            pub const FINGERPRINT: u64 = #wire::FINGERPRINT;

            /// A dispatcher calling `inner`.
            pub fn new(inner: ::std::sync::Arc<dyn #trait_name>) -> Self {
                Self { inner, #conversations_init }
            }

            #conversations_methods

            #dispatch_doc
            pub fn dispatch_to(
                inner: &dyn #trait_name,
                method: #rt::MethodId,
                payload: &[u8],
                reply: &mut ::std::vec::Vec<u8>,
            ) -> ::std::result::Result<(), #rt::ServiceError> {
                #ignore_payload
                #ignore_inner
                match method {
                    #(#borrowed_arms)*
                    _ => Err(#rt::ServiceError::unknown_method(method)),
                }
            }
        }

        impl #rt::Service for #server {
            fn call(
                &self,
                method: #rt::MethodId,
                payload: &#rt::Bytes,
                reply: &mut ::std::vec::Vec<u8>,
            ) -> ::std::result::Result<(), #rt::ServiceError> {
                #body
            }
        }
    }
}

/// The expressions handing each argument to the implementation, reading `args` (the archived
/// argument struct); interface arguments are the reverse proxies `hatch_reverse_<name>`.
fn values(method: &Method, rt: &syn::Path) -> Vec<TokenStream> {
    method
        .args
        .iter()
        .map(|arg| {
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
                ArgKind::Interface { .. } => {
                    let proxy = quote::format_ident!("hatch_reverse_{}", field);
                    quote!(&#proxy)
                }
            }
        })
        .collect()
}

/// `let args = …;` validating the archived arguments, when the method has any that travel.
fn access(method: &Method, names: &Names, payload: TokenStream) -> Option<TokenStream> {
    let Names { rt, wire, .. } = names;
    let archived = Names::archived_args(method);
    let lifetime = method.borrows().then(|| quote!(<'_>));
    method
        .sent_args()
        .next()
        .is_some()
        .then(|| quote!(let args = #rt::access::<#wire::#archived #lifetime>(#payload)?;))
}

/// A method's arm in `dispatch_to`: decode in place, call, serialise the reply into `reply`.
fn borrowed_arm(method: &Method, names: &Names) -> TokenStream {
    let Names { rt, wire, .. } = names;
    let name = &method.name;
    let id = Names::id(method);
    if method.converses() {
        let why = format!("`{name}` takes interface arguments and cannot be called back");
        return quote!(#wire::#id => Err(#rt::ServiceError::bad_request(#why)),);
    }
    let access = access(method, names, quote!(payload));
    let values = values(method, rt);
    let call = quote!(inner.#name(#(#values),*));
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

/// A conversational method's arm in `Service::call`: the implementation runs on a worker with a
/// reverse proxy per interface argument; its reply (or first callback) goes into `reply`.
fn conversation_arm(method: &Method, names: &Names) -> TokenStream {
    let Names { rt, wire, .. } = names;
    let name = &method.name;
    let id = Names::id(method);
    let access = access(method, names, quote!(&hatch_payload));
    let payload = access.is_some().then(|| quote!(let hatch_payload = #rt::detach(payload);));
    let proxies = method.args.iter().filter_map(|arg| match &arg.kind {
        ArgKind::Interface { path, slot } => {
            let proxy = quote::format_ident!("hatch_reverse_{}", arg.name);
            let ty = sibling(path, "Proxy");
            Some(quote! {
                let #proxy = #ty::new(hatch_reverse.channel(#slot)).with_failure_handler(#rt::give_up());
            })
        }
        _ => None,
    });
    let values = values(method, rt);
    let call = quote!(hatch_inner.#name(#(#values),*));
    let body = match method.output {
        Output::Unit => quote! {
            #call;
            Ok(::std::vec::Vec::new())
        },
        Output::Value { .. } => quote! {
            let mut hatch_out = ::std::vec::Vec::new();
            #rt::reply(&#call, &mut hatch_out)?;
            Ok(hatch_out)
        },
    };
    quote! {
        #wire::#id => {
            let hatch_inner = ::std::sync::Arc::clone(&self.inner);
            #payload
            self.conversations.start(reply, move |hatch_reverse: &#rt::Reverse| {
                #access
                #(#proxies)*
                #body
            })
        }
    }
}
