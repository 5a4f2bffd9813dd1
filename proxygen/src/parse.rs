//! From a Rust source file (syn) to neutral [`Service`] descriptors, with every unsupported form
//! reported as a [`Diagnostic`] naming file, line, trait and method.

use std::collections::HashMap;
use std::path::Path;

use proc_macro2::{Ident, Span};
use quote::format_ident;
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Item, ItemTrait, Pat, TraitItem, TraitItemFn, TypeParamBound};

use crate::error::{Diagnostic, Error};
use crate::fingerprint;
use crate::model::{Arg, ArgKind, CallMode, Method, Output, Service};
use crate::types;

/// Prefix of the generated code's local variables; user argument names may not start with it.
pub const RESERVED_PREFIX: &str = "hatch_";

/// Parses `source` (the contents of `path`) and describes its top-level traits, or the ones named
/// in `only`. `async_names` are inherent method names of the generated async client that interface
/// methods must not reuse (empty when no async client is generated).
pub fn parse_file(
    path: &Path,
    source: &str,
    only: Option<&[String]>,
    async_names: &[&str],
) -> Result<Vec<Service>, Error> {
    let file = syn::parse_file(source).map_err(|err| {
        let start = err.span().start();
        Error::Syntax { path: path.to_owned(), line: start.line, column: start.column + 1, message: err.to_string() }
    })?;
    let mut diagnostics = Vec::new();
    let mut services = Vec::new();
    for item in &file.items {
        let Item::Trait(item) = item else { continue };
        if only.is_some_and(|names| !names.iter().any(|name| item.ident == name)) {
            continue;
        }
        let mut parser = TraitParser { path, trait_name: item.ident.to_string(), diagnostics: &mut diagnostics };
        if let Some(service) = parser.service(item, async_names) {
            services.push(service);
        }
    }
    if !diagnostics.is_empty() {
        return Err(Error::Unsupported(diagnostics));
    }
    if services.is_empty() {
        return Err(Error::NoTraits { path: path.to_owned(), only: only.map(<[String]>::to_vec) });
    }
    Ok(services)
}

struct TraitParser<'a> {
    path: &'a Path,
    trait_name: String,
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl TraitParser<'_> {
    fn report(&mut self, span: Span, method: Option<&Ident>, reason: impl Into<String>) {
        let start = span.start();
        self.diagnostics.push(Diagnostic {
            path: self.path.to_owned(),
            line: start.line,
            column: start.column + 1,
            trait_name: self.trait_name.clone(),
            method: method.map(Ident::to_string),
            reason: reason.into(),
        });
    }

    fn service(&mut self, item: &ItemTrait, async_names: &[&str]) -> Option<Service> {
        let before = self.diagnostics.len();
        if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
            self.report(
                item.generics.span(),
                None,
                "generic traits are not supported: a proxy needs concrete types to serialise",
            );
        }
        if item.unsafety.is_some() || item.auto_token.is_some() {
            self.report(item.ident.span(), None, "`unsafe` and `auto` traits cannot be interfaces");
        }
        let component = self.supertraits(item);
        let mut methods = Vec::new();
        for trait_item in &item.items {
            match trait_item {
                TraitItem::Fn(function) => {
                    if let Some(method) = self.method(function, async_names) {
                        methods.push(method);
                    }
                }
                other => self.report(
                    other.span(),
                    None,
                    "only methods are supported in an interface trait (no associated types, consts or macros)",
                ),
            }
        }
        let mut ids: HashMap<u32, &Ident> = HashMap::new();
        for method in &methods {
            if let Some(other) = ids.insert(method.id, &method.name) {
                let reason = format!(
                    "its method id {:#010x} collides with method `{other}`'s (FNV-1a 32 of `{}::…`); rename one",
                    method.id, self.trait_name
                );
                self.report(method.name.span(), Some(&method.name), reason);
            }
        }
        if self.diagnostics.len() > before {
            return None;
        }
        Some(Service {
            component,
            name: item.ident.clone(),
            vis: item.vis.clone(),
            docs: docs(&item.attrs),
            fingerprint: fingerprint::fingerprint(&self.trait_name, &methods),
            methods,
        })
    }

    /// Checks the supertraits; returns the path of a `Component` supertrait (hatch-components'
    /// marker, itself `Send + Sync + 'static`), which the proxy then implements too.
    fn supertraits(&mut self, item: &ItemTrait) -> Option<syn::Path> {
        let (mut send, mut sync, mut component) = (false, false, None);
        for bound in &item.supertraits {
            match bound {
                TypeParamBound::Trait(bound) if bound.path.is_ident("Send") => send = true,
                TypeParamBound::Trait(bound) if bound.path.is_ident("Sync") => sync = true,
                TypeParamBound::Trait(bound)
                    if bound.path.segments.last().is_some_and(|segment| segment.ident == "Component") =>
                {
                    (send, sync) = (true, true);
                    component = Some(bound.path.clone());
                }
                TypeParamBound::Lifetime(lifetime) if lifetime.ident == "static" => {}
                other => self.report(
                    other.span(),
                    None,
                    "only `Send`, `Sync`, `'static` and hatch's `Component` are supported as supertraits: \
                     the generated proxy implements the trait's own methods only",
                ),
            }
        }
        if !(send && sync) {
            self.report(
                item.ident.span(),
                None,
                format!(
                    "an interface trait must be `Send + Sync` (e.g. `pub trait {}: Send + Sync`), so a \
                     remote proxy can stand in for an implementation behind `Arc<dyn {0}>`",
                    self.trait_name
                ),
            );
        }
        component
    }

    fn method(&mut self, function: &TraitItemFn, async_names: &[&str]) -> Option<Method> {
        let sig = &function.sig;
        let name = &sig.ident;
        let before = self.diagnostics.len();
        if sig.asyncness.is_some() {
            self.report(
                sig.asyncness.span(),
                Some(name),
                "`async fn` is not supported yet; declare it as a plain method: the generated async client \
                 already offers every method as an `async fn`",
            );
        }
        if sig.constness.is_some() || sig.unsafety.is_some() || sig.abi.is_some() || sig.variadic.is_some() {
            self.report(sig.span(), Some(name), "`const`, `unsafe`, `extern` and variadic methods are not supported");
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            self.report(
                sig.generics.span(),
                Some(name),
                "generic methods (type or lifetime parameters, `where` clauses) are not supported: a proxy needs \
                 concrete types to serialise",
            );
        }
        if async_names.contains(&name.to_string().as_str()) {
            self.report(
                name.span(),
                Some(name),
                format!(
                    "the name collides with the generated `{}AsyncClient::{name}`; rename the method or turn the \
                     async client off with `build_async_client(false)`",
                    self.trait_name
                ),
            );
        }
        let mut inputs = sig.inputs.iter();
        match inputs.next() {
            Some(FnArg::Receiver(receiver))
                if receiver.reference.as_ref().is_some_and(|(_, lifetime)| lifetime.is_none())
                    && receiver.mutability.is_none()
                    && receiver.colon_token.is_none() => {}
            Some(FnArg::Receiver(receiver)) if receiver.mutability.is_some() => self.report(
                receiver.span(),
                Some(name),
                "`&mut self` is not supported: one proxy serves many callers at once; take `&self` and use \
                 interior mutability in the implementation",
            ),
            Some(FnArg::Receiver(receiver)) => self.report(
                receiver.span(),
                Some(name),
                "the receiver must be `&self` (not `self`, `self: Type` or `&'a self`)",
            ),
            _ => self.report(
                sig.span(),
                Some(name),
                "methods need a `&self` receiver: associated functions cannot be called through a proxy",
            ),
        }
        let mut args = Vec::new();
        for (i, input) in inputs.enumerate() {
            let FnArg::Typed(typed) = input else { continue };
            let arg_name = match &*typed.pat {
                Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => ident.ident.clone(),
                _ => format_ident!("arg{}", i),
            };
            if arg_name.to_string().starts_with(RESERVED_PREFIX) {
                self.report(
                    typed.span(),
                    Some(name),
                    format!("argument names starting with `{RESERVED_PREFIX}` are reserved for generated code"),
                );
            }
            match types::classify_arg(&typed.ty) {
                Ok(ArgKind::Interface { path, .. }) => {
                    let slots = args.iter().filter(|arg: &&Arg| matches!(arg.kind, ArgKind::Interface { .. })).count();
                    match u8::try_from(slots) {
                        Ok(slot) => args.push(Arg {
                            name: arg_name,
                            ty: (*typed.ty).clone(),
                            kind: ArgKind::Interface { path, slot },
                        }),
                        Err(_) => self.report(typed.ty.span(), Some(name), "at most 256 interface arguments"),
                    }
                }
                Ok(kind) => args.push(Arg { name: arg_name, ty: (*typed.ty).clone(), kind }),
                Err(reason) => self.report(typed.ty.span(), Some(name), format!("argument `{arg_name}`: {reason}")),
            }
        }
        let output = match types::classify_output(&sig.output) {
            Ok(output) => output,
            Err(reason) => {
                self.report(sig.output.span(), Some(name), reason);
                return None;
            }
        };
        let sync = function.attrs.iter().find(|attr| is_sync_attr(attr));
        let converses = args.iter().any(|arg| matches!(arg.kind, ArgKind::Interface { .. }));
        let mode = match (&output, sync) {
            // The caller's object must stay reachable until the callee is done with it.
            (Output::Unit, None) if converses => CallMode::TwoWay,
            (Output::Unit, None) => CallMode::OneWay,
            (Output::Unit, Some(_)) => CallMode::TwoWay,
            (Output::Value { .. }, None) => CallMode::TwoWay,
            (Output::Value { .. }, Some(attr)) => {
                self.report(
                    attr.span(),
                    Some(name),
                    "`#[hatch::sync]` only applies to methods returning `()`: other methods always wait for their reply",
                );
                CallMode::TwoWay
            }
        };
        let id = fingerprint::method_id(&self.trait_name, &name.to_string());
        if id == fingerprint::CONTINUE_METHOD_ID {
            self.report(
                name.span(),
                Some(name),
                format!("its method id {id:#010x} is reserved for conversations (callbacks); rename the method"),
            );
        }
        if self.diagnostics.len() > before {
            return None;
        }
        Some(Method { name: name.clone(), docs: docs(&function.attrs), args, output, mode, id })
    }
}

/// `#[hatch::sync]`, or `#[sync]` when imported.
fn is_sync_attr(attr: &Attribute) -> bool {
    let segments: Vec<String> = attr.path().segments.iter().map(|segment| segment.ident.to_string()).collect();
    matches!(segments.iter().map(String::as_str).collect::<Vec<_>>().as_slice(), ["hatch", "sync"] | ["sync"])
}

fn docs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident("doc")).cloned().collect()
}
