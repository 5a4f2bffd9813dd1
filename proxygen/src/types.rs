//! Which argument and return types the generator can serve, and how. Every rejection comes with
//! the reason the user will read.

use syn::{GenericArgument, PathArguments, ReturnType, Type, TypePath};

use crate::model::{ArgKind, Output};

/// Classifies an argument type.
pub fn classify_arg(ty: &Type) -> Result<ArgKind, String> {
    let Type::Reference(reference) = ungroup(ty) else {
        check_owned(ty)?;
        return Ok(ArgKind::Owned);
    };
    if reference.mutability.is_some() {
        return Err("`&mut` arguments are not supported: changes made by a remote implementation would never \
                    reach the caller; pass the value and return the result instead"
            .into());
    }
    if let Some(lifetime) = &reference.lifetime {
        return Err(format!(
            "the named lifetime `{lifetime}` cannot be served: the server lends arguments from its receive \
             buffer for the duration of the call only; elide the lifetime"
        ));
    }
    let elem = ungroup(&reference.elem);
    if let Type::TraitObject(object) = elem {
        return interface(object).map(|path| ArgKind::Interface { path, slot: 0 });
    }
    if is_path(elem, "str") || matches!(elem, Type::Slice(slice) if is_path(ungroup(&slice.elem), "u8")) {
        return Ok(ArgKind::BorrowedInPlace);
    }
    match elem {
        Type::Slice(slice) => check_owned(&slice.elem)?,
        other => check_owned(other)?,
    }
    Ok(ArgKind::BorrowedCopy { pointee: Box::new(elem.clone()) })
}

/// The interface trait of `dyn Trait` (auto traits and lifetimes aside).
fn interface(object: &syn::TypeTraitObject) -> Result<syn::Path, String> {
    let mut traits = object.bounds.iter().filter_map(|bound| match bound {
        syn::TypeParamBound::Trait(bound) if !["Send", "Sync"].iter().any(|name| bound.path.is_ident(name)) => {
            Some(bound)
        }
        _ => None,
    });
    let (Some(bound), None) = (traits.next(), traits.next()) else {
        return Err("an interface argument must name exactly one interface trait (`&dyn Socket`)".into());
    };
    if bound.lifetimes.is_some() || !matches!(bound.modifier, syn::TraitBoundModifier::None) {
        return Err("an interface argument cannot have `for<…>` or `?` bounds".into());
    }
    if bound.path.segments.iter().any(|segment| !segment.arguments.is_none()) {
        return Err("an interface argument's trait cannot be generic: a reverse proxy needs a concrete \
                    interface"
            .into());
    }
    Ok(bound.path.clone())
}

/// Classifies a return type.
pub fn classify_output(output: &ReturnType) -> Result<Output, String> {
    let ty = match output {
        ReturnType::Default => return Ok(Output::Unit),
        ReturnType::Type(_, ty) => ty,
    };
    match ungroup(ty) {
        Type::Tuple(tuple) if tuple.elems.is_empty() => return Ok(Output::Unit),
        Type::Reference(_) => {
            return Err("methods cannot return references: a remote reply has no owner to borrow from; \
                        return an owned type"
                .into());
        }
        _ => {}
    }
    check_owned(ty)?;
    Ok(Output::Value { ty: ty.clone(), error: result_error(ty).map(Box::new) })
}

/// `Some(E)` when `ty` is spelled `Result<T, E>` (any path ending in `Result` with two type
/// arguments).
fn result_error(ty: &Type) -> Option<Type> {
    let Type::Path(TypePath { qself: None, path }) = ungroup(ty) else { return None };
    let last = path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect();
    match types.as_slice() {
        [_, error] => Some((*error).clone()),
        _ => None,
    }
}

/// Accepts types that own their data and have a name rkyv can serialise: paths (with type
/// arguments), tuples and arrays of them. Whether the named types really implement rkyv's traits
/// is left to the compiler.
pub fn check_owned(ty: &Type) -> Result<(), String> {
    match ty {
        Type::Paren(inner) => check_owned(&inner.elem),
        Type::Group(inner) => check_owned(&inner.elem),
        Type::Tuple(tuple) => tuple.elems.iter().try_for_each(check_owned),
        Type::Array(array) => check_owned(&array.elem),
        Type::Path(TypePath { qself: Some(_), .. }) => {
            Err("qualified paths (`<T as Trait>::X`) are not supported: name the concrete type".into())
        }
        Type::Path(TypePath { qself: None, path }) => {
            for segment in &path.segments {
                if segment.ident == "Self" {
                    return Err("`Self` cannot cross the wire: the proxy and the implementation are different \
                                types; name a concrete type"
                        .into());
                }
                match &segment.arguments {
                    PathArguments::None => {}
                    PathArguments::Parenthesized(_) => {
                        return Err(format!(
                            "`{}(…)` (a closure or function trait) cannot be serialised",
                            segment.ident
                        ));
                    }
                    PathArguments::AngleBracketed(args) => {
                        for arg in &args.args {
                            match arg {
                                GenericArgument::Type(inner) => check_owned(inner)?,
                                GenericArgument::Lifetime(lifetime) => {
                                    return Err(format!(
                                        "types borrowing with a lifetime (`{lifetime}`) are not supported \
                                         inside other types; only a whole argument may be `&str`, `&[u8]`, \
                                         `&T` or `&[T]`"
                                    ));
                                }
                                GenericArgument::Const(_) => {}
                                _ => return Err("associated type bindings are not supported".into()),
                            }
                        }
                    }
                }
            }
            if path.segments.len() == 1 && path.segments[0].ident == "str" {
                return Err("`str` is unsized; use `String` or `&str`".into());
            }
            Ok(())
        }
        Type::Reference(_) => Err("references are only supported as a whole argument (`&str`, `&[u8]`, `&T`, \
                                   `&[T]`), not inside other types; use an owned type"
            .into()),
        Type::ImplTrait(_) => Err("`impl Trait` is not supported: the proxy needs a concrete type to \
                                   serialise"
            .into()),
        Type::TraitObject(_) => {
            Err("trait objects (`dyn Trait`) cannot be serialised; pass data, not behaviour".into())
        }
        Type::BareFn(_) => Err("function pointers cannot be serialised".into()),
        Type::Ptr(_) => Err("raw pointers cannot be serialised".into()),
        Type::Slice(_) => Err("bare slices are unsized; use `Vec<T>` or `&[T]`".into()),
        Type::Never(_) => Err("`!` cannot be returned by a remote call".into()),
        Type::Infer(_) => Err("`_` is not a type the proxy can serialise".into()),
        Type::Macro(_) => Err("type macros are not supported: the generator cannot see their expansion".into()),
        _ => Err("this kind of type is not supported".into()),
    }
}

fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Paren(inner) => ungroup(&inner.elem),
        Type::Group(inner) => ungroup(&inner.elem),
        other => other,
    }
}

fn is_path(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(TypePath { qself: None, path }) if path.is_ident(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(src: &str) -> Result<ArgKind, String> {
        classify_arg(&syn::parse_str(src).unwrap())
    }

    fn output(src: &str) -> Result<Output, String> {
        classify_output(&syn::parse_str::<ReturnType>(src).unwrap())
    }

    #[test]
    fn supported_argument_forms() {
        for owned in [
            "u64",
            "f32",
            "bool",
            "char",
            "String",
            "Vec<u8>",
            "Vec<Point>",
            "Option<(u8, String)>",
            "[u8; 4]",
            "Result<u8, MyError>",
            "api::Point",
        ] {
            assert!(matches!(arg(owned), Ok(ArgKind::Owned)), "{owned}");
        }
        assert!(matches!(arg("&str"), Ok(ArgKind::BorrowedInPlace)));
        assert!(matches!(arg("&[u8]"), Ok(ArgKind::BorrowedInPlace)));
        assert!(matches!(arg("&Point"), Ok(ArgKind::BorrowedCopy { .. })));
        assert!(matches!(arg("&[u32]"), Ok(ArgKind::BorrowedCopy { .. })));
        for interface in ["&dyn Socket", "&(dyn net::Socket + Send)", "&(dyn Socket + Sync + 'static)"] {
            let Ok(ArgKind::Interface { path, .. }) = arg(interface) else { panic!("{interface}") };
            assert_eq!(path.segments.last().unwrap().ident, "Socket", "{interface}");
        }
    }

    #[test]
    fn unsupported_argument_forms_say_why() {
        for (src, why) in [
            ("&mut Vec<u8>", "`&mut` arguments are not supported"),
            ("&'a str", "named lifetime `'a`"),
            ("impl Iterator<Item = u8>", "`impl Trait` is not supported"),
            ("Box<dyn Fn()>", "trait objects"),
            ("Option<&str>", "only supported as a whole argument"),
            ("Cow<'static, str>", "lifetime (`'static`)"),
            ("Self", "`Self` cannot cross the wire"),
            ("fn(u8)", "function pointers"),
            ("*const u8", "raw pointers"),
            ("<T as X>::Y", "qualified paths"),
            ("&mut dyn Socket", "`&mut` arguments are not supported"),
            ("&dyn Send", "exactly one interface trait"),
            ("&(dyn Socket + Other)", "exactly one interface trait"),
            ("&dyn Socket<u8>", "cannot be generic"),
            ("Box<dyn Socket>", "trait objects"),
        ] {
            let err = arg(src).unwrap_err();
            assert!(err.contains(why), "{src}: {err}");
        }
    }

    #[test]
    fn outputs() {
        assert!(matches!(output(""), Ok(Output::Unit)));
        assert!(matches!(output("-> ()"), Ok(Output::Unit)));
        assert!(matches!(output("-> u64"), Ok(Output::Value { error: None, .. })));
        let Ok(Output::Value { error: Some(error), .. }) = output("-> Result<u64, KvError>") else { panic!() };
        assert_eq!(quote::quote!(#error).to_string(), "KvError");
        assert!(matches!(output("-> io::Result<u64>"), Ok(Output::Value { error: None, .. })));
        assert!(output("-> &str").unwrap_err().contains("cannot return references"));
        assert!(output("-> impl Iterator<Item = u8>").unwrap_err().contains("`impl Trait`"));
    }
}
