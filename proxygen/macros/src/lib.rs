//! Marker attributes for interface traits, read by `hatch-proxygen` from the source file and
//! accepted (unchanged) by rustc through these no-op attribute macros. Use them through the facade:
//! `#[hatch::sync]`.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Marks a `()`-returning interface method as synchronous: its generated proxy waits for the
/// remote call to finish instead of queueing it as an optimistic one-way call.
///
/// ```ignore
/// pub trait Log: Send + Sync {
///     /// Queued as a one-way call and batched with others (the default for `()` methods).
///     fn append(&self, line: String);
///     /// Returns only once the server has run it.
///     #[hatch::sync]
///     fn sync_to_disk(&self);
/// }
/// ```
///
/// The attribute takes no arguments and leaves the method unchanged.
#[proc_macro_attribute]
pub fn sync(args: TokenStream, item: TokenStream) -> TokenStream {
    if let Some(first) = args.into_iter().next() {
        return compile_error("`#[hatch::sync]` takes no arguments", first.span());
    }
    item
}

fn compile_error(message: &str, span: Span) -> TokenStream {
    let mut bang = Punct::new('!', Spacing::Alone);
    bang.set_span(span);
    let mut literal = Literal::string(message);
    literal.set_span(span);
    let mut group = Group::new(Delimiter::Parenthesis, TokenTree::from(literal).into());
    group.set_span(span);
    let mut semi = Punct::new(';', Spacing::Alone);
    semi.set_span(span);
    [TokenTree::from(Ident::new("compile_error", span)), bang.into(), group.into(), semi.into()].into_iter().collect()
}
