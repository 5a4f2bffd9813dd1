//! Generator tests: token-level checks of the output, the fingerprint's sensitivity, and the
//! diagnostics for every unsupported form.

use std::collections::HashMap;
use std::path::Path;

use crate::error::Error;
use crate::generate::{self, Options};
use crate::{configure, fingerprint, parse};

const PRIMES: &str = r#"
/// Prime number queries.
pub trait Primes: Send + Sync {
    /// Whether `n` is prime.
    fn is_prime(&self, n: u64) -> bool;
    fn count(&self, lo: u64, hi: u64) -> u64;
    fn log(&self, line: String);
    #[hatch::sync]
    fn reset(&self);
    fn lookup(&self, key: &str, point: &Point) -> Result<Vec<u8>, KvError>;
}
"#;

fn tokens(source: &str, runtime: &str) -> String {
    let services = parse::parse_file(Path::new("src/api.rs"), source, None, generate::ASYNC_CLIENT_METHODS).unwrap();
    let options = Options { runtime: syn::parse_str(runtime).unwrap(), client: true, async_client: true, server: true };
    generate::tokens(&services, &options).to_string()
}

fn fingerprint_of(source: &str) -> u64 {
    parse::parse_file(Path::new("a.rs"), source, None, &[]).unwrap()[0].fingerprint
}

fn error_of(source: &str) -> String {
    configure().generate(Path::new("src/api.rs"), source).unwrap_err().to_string()
}

#[test]
fn proxy_implements_the_trait_with_the_same_signatures() {
    let out = tokens(PRIMES, "::hatch::codegen");
    assert!(out.contains("impl Primes for PrimesProxy"), "{out}");
    assert!(out.contains("fn is_prime (& self , n : u64) -> bool"), "{out}");
    assert!(
        out.contains("fn lookup (& self , key : & str , point : & Point) -> Result < Vec < u8 > , KvError >"),
        "{out}"
    );
    assert!(out.contains("core : :: hatch :: codegen :: ProxyCore < dyn Primes >"), "{out}");
}

#[test]
fn unit_methods_are_one_way_unless_marked_sync() {
    let out = tokens(PRIMES, "::hatch::codegen");
    assert!(out.contains(". send (primes_wire :: LOG , \"log\""), "{out}");
    assert!(out.contains(". call (primes_wire :: RESET , \"reset\""), "{out}");
    assert!(!out.contains(". send (primes_wire :: RESET"), "{out}");
}

#[test]
fn result_methods_route_errors_through_error_route_others_straight_to_the_handler() {
    let out = tokens(PRIMES, "::hatch::codegen");
    assert!(out.contains("ErrorRoute :: < KvError > :: new ()"), "{out}");
    assert!(out.contains("implicit :: < bool >"), "{out}");
}

#[test]
fn borrowed_arguments_are_boxed_inline_and_lent_on_the_server() {
    let out = tokens(PRIMES, "::hatch::codegen");
    assert!(out.contains("pub struct LookupArgs < 'a >"), "{out}");
    assert!(
        out.contains("# [rkyv (with = :: hatch :: codegen :: rkyv :: with :: InlineAsBox)] pub key : & 'a str"),
        "{out}"
    );
    assert!(out.contains("inner . lookup (& args . key , < :: std :: boxed :: Box < Point > as :: std :: convert :: AsRef < Point >> :: as_ref (& :: hatch :: codegen :: field :: < :: std :: boxed :: Box < Point >> (& args . point) ? ,)"), "{out}");
    assert!(out.contains(":: hatch :: codegen :: field :: < u64 > (& args . n) ?"), "{out}");
}

#[test]
fn ids_and_fingerprint_are_constants_in_the_wire_module() {
    let out = tokens(PRIMES, "::hatch::codegen");
    let id = format!(
        "pub const IS_PRIME : :: hatch :: codegen :: MethodId = {:#010x}",
        fingerprint::method_id("Primes", "is_prime")
    );
    assert!(out.contains(&id), "{out}");
    assert!(out.contains("pub mod primes_wire"), "{out}");
    assert!(out.contains("pub const FINGERPRINT : u64 = 0x"), "{out}");
}

#[test]
fn docs_are_carried_over() {
    let out = tokens(PRIMES, "::hatch::codegen");
    assert!(out.contains("# [doc = \" Prime number queries.\"] pub struct PrimesProxy"), "{out}");
    assert!(out.contains("# [doc = \" Whether `n` is prime.\"] pub async fn is_prime"), "{out}");
}

#[test]
fn everything_from_the_runtime_goes_through_the_configured_path() {
    let out = tokens(PRIMES, "::my_facade::rt");
    assert!(!out.contains(":: hatch ::"), "{out}");
    assert!(out.contains(":: my_facade :: rt :: Service for PrimesServer"), "{out}");
    assert!(out.contains("# [rkyv (crate = :: my_facade :: rt :: rkyv)]"), "{out}");
}

#[test]
fn visibility_follows_the_trait() {
    let out = tokens("pub(crate) trait Hidden: Send + Sync { fn f(&self); }", "::hatch::codegen");
    assert!(out.contains("pub (crate) struct HiddenProxy"), "{out}");
    assert!(out.contains("pub (crate) mod hidden_wire"), "{out}");
}

#[test]
fn relative_paths_are_adjusted_for_the_wire_module() {
    let out = tokens(
        "pub trait T: Send + Sync { fn f(&self, a: self::A, b: &super::B, c: Vec<crate::C>) -> self::A; }",
        "::hatch::codegen",
    );
    assert!(out.contains("pub a : super :: A ,"), "{out}");
    assert!(out.contains("pub b : & 'a super :: super :: B ,"), "{out}");
    assert!(out.contains("pub c : Vec < crate :: C > ,"), "{out}");
    // Outside the wire module the types stay as written.
    assert!(
        out.contains("fn f (& self , a : self :: A , b : & super :: B , c : Vec < crate :: C >) -> self :: A"),
        "{out}"
    );
}

#[test]
fn every_trait_of_a_file_is_generated_unless_selected() {
    let source =
        "pub trait A: Send + Sync { fn a(&self); }\npub trait B: Send + Sync { fn b(&self); }\nstruct NotATrait;";
    let both = configure().generate(Path::new("ab.rs"), source).unwrap();
    assert!(both.contains("impl A for AProxy") && both.contains("impl B for BProxy"), "{both}");
    let only_b = configure().only_traits(["B"]).generate(Path::new("ab.rs"), source).unwrap();
    assert!(!only_b.contains("AProxy") && only_b.contains("impl B for BProxy"), "{only_b}");
    // A helper trait the generator cannot serve can stay in the file when not selected.
    let with_helper = format!("{source}\ntrait Helper {{ fn h(&mut self); }}");
    assert!(configure().generate(Path::new("ab.rs"), &with_helper).is_err());
    assert!(configure().only_traits(["A", "B"]).generate(Path::new("ab.rs"), &with_helper).is_ok());
}

#[test]
fn builder_switches_parts_off() {
    let source = "pub trait T: Send + Sync { fn new(&self) -> u8; }";
    let only_server = configure().build_client(false).build_async_client(false);
    let out = only_server.generate(Path::new("t.rs"), source).unwrap();
    assert!(
        out.contains("pub struct TServer") && !out.contains("struct TProxy") && !out.contains("struct TAsyncClient"),
        "{out}"
    );
    // `new` only collides with the async client's constructor when that is generated.
    assert!(error_of(source).contains("collides with the generated `TAsyncClient::new`"));
}

#[test]
fn fingerprint_ignores_names_docs_and_order_but_not_signatures() {
    let base = fingerprint_of("trait P: Send + Sync { fn a(&self, x: u64) -> bool; fn b(&self); }");
    for same in [
        "trait P: Send + Sync { fn a(&self, renamed: u64) -> bool; fn b(&self); }",
        "trait P: Send + Sync { fn b(&self); /// doc\n fn a(&self, x: u64) -> bool; }",
        "trait P: Send + Sync { fn a(&self, x: u64)->bool; fn b(&self) -> (); }",
    ] {
        assert_eq!(fingerprint_of(same), base, "{same}");
    }
    for different in [
        "trait Q: Send + Sync { fn a(&self, x: u64) -> bool; fn b(&self); }",
        "trait P: Send + Sync { fn a(&self, x: u32) -> bool; fn b(&self); }",
        "trait P: Send + Sync { fn a(&self, x: u64) -> u8; fn b(&self); }",
        "trait P: Send + Sync { fn a(&self, x: u64) -> bool; #[hatch::sync] fn b(&self); }",
        "trait P: Send + Sync { fn a(&self, x: u64) -> bool; fn b(&self); fn c(&self); }",
        "trait P: Send + Sync { fn a(&self, x: &u64) -> bool; fn b(&self); }",
    ] {
        assert_ne!(fingerprint_of(different), base, "{different}");
    }
}

#[test]
fn unsupported_forms_name_file_line_trait_method_and_reason() {
    let cases = [
        ("fn f<T>(&self, x: T);", "generic methods"),
        ("fn f<'a>(&self, x: &'a str);", "generic methods"),
        ("fn f(&self, x: impl Into<u8>);", "argument `x`: `impl Trait` is not supported"),
        ("async fn f(&self) -> u8;", "`async fn` is not supported yet"),
        ("fn f(&self, x: &mut Vec<u8>);", "argument `x`: `&mut` arguments are not supported"),
        ("fn f(&mut self);", "`&mut self` is not supported"),
        ("fn f(self);", "the receiver must be `&self`"),
        ("fn f(x: u8) -> u8;", "need a `&self` receiver"),
        ("fn f(&self) -> &str;", "cannot return references"),
        ("fn f(&self) -> Self;", "`Self` cannot cross the wire"),
        ("fn f(&self, g: Box<dyn Fn()>);", "trait objects"),
        ("#[hatch::sync] fn f(&self) -> u8;", "`#[hatch::sync]` only applies to methods returning `()`"),
        ("fn f(&self, hatch_x: u8);", "reserved for generated code"),
        ("unsafe fn f(&self);", "`unsafe`"),
    ];
    for (method, reason) in cases {
        let source = format!("pub trait Api: Send + Sync {{\n    fn ok(&self);\n    {method}\n}}\n");
        let message = error_of(&source);
        let expected_prefix = "hatch-proxygen: src/api.rs:3:";
        assert!(message.starts_with(expected_prefix), "{method}: {message}");
        assert!(message.contains("trait `Api`, method `f`"), "{method}: {message}");
        assert!(message.contains(reason), "{method}: {message}");
    }
}

#[test]
fn unsupported_trait_forms_are_reported_too() {
    for (source, reason) in [
        ("pub trait Api { fn f(&self); }", "must be `Send + Sync`"),
        ("pub trait Api<T>: Send + Sync { fn f(&self); }", "generic traits"),
        ("pub trait Api: Send + Sync + Clone { fn f(&self); }", "supertraits"),
        ("pub trait Api: Send + Sync { type X; fn f(&self); }", "only methods"),
        ("pub trait Api: Send + Sync { const N: u8; }", "only methods"),
    ] {
        let message = error_of(source);
        assert!(message.contains("src/api.rs:1:") && message.contains("trait `Api`"), "{source}: {message}");
        assert!(message.contains(reason), "{source}: {message}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let message = error_of("pub trait Api: Send + Sync {\n fn a(&mut self);\n fn b(&self) -> impl Sized;\n}");
    assert_eq!(message.lines().count(), 2, "{message}");
    assert!(message.contains("method `a`") && message.contains("method `b`"), "{message}");
}

#[test]
fn method_id_collisions_are_detected() {
    // Find two method names whose ids collide (a birthday search over ~2^16 names).
    let mut seen = HashMap::new();
    let (a, b) = (0u32..)
        .find_map(|i| {
            let name = format!("m{i}");
            seen.insert(fingerprint::method_id("Api", &name), name.clone()).map(|other| (other, name))
        })
        .unwrap();
    let message = error_of(&format!("pub trait Api: Send + Sync {{ fn {a}(&self); fn {b}(&self); }}"));
    assert!(
        message.contains(&format!("method `{b}`")) && message.contains(&format!("collides with method `{a}`")),
        "{message}"
    );
}

#[test]
fn other_errors_are_readable_too() {
    let syntax =
        configure().generate(Path::new("src/api.rs"), "pub trait Api: Send + Sync {\n fn f(&self)\n}").unwrap_err();
    assert!(matches!(syntax, Error::Syntax { line: 3, .. }), "{syntax}");
    assert!(syntax.to_string().starts_with("hatch-proxygen: src/api.rs:3:"), "{syntax}");
    assert_eq!(format!("{syntax:?}"), syntax.to_string(), "build.rs `?` prints Debug");
    let none = configure().only_traits(["Missing"]).generate(Path::new("src/api.rs"), PRIMES).unwrap_err();
    assert!(none.to_string().contains("no interface trait found (looked for Missing)"), "{none}");
    let bad_path = configure().runtime_path("not a path").generate(Path::new("a.rs"), PRIMES).unwrap_err();
    assert!(bad_path.to_string().contains("runtime path `not a path`"), "{bad_path}");
}

#[test]
fn compile_writes_one_file_per_interface_file_into_out_dir() {
    let dir = std::env::temp_dir().join(format!("hatch-proxygen-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/primes.rs"), PRIMES).unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    configure().out_dir(&out).emit_rerun_if_changed(false).compile(&[dir.join("src/primes.rs")]).unwrap();
    let generated = std::fs::read_to_string(out.join("primes.rs")).unwrap();
    assert!(generated.starts_with("// @generated by hatch-proxygen"), "{generated}");
    assert!(generated.contains("impl Primes for PrimesProxy {"), "formatted with prettyplease");
    let twice = configure()
        .out_dir(&out)
        .emit_rerun_if_changed(false)
        .compile(&[dir.join("src/primes.rs"), dir.join("src/primes.rs")]);
    assert!(twice.unwrap_err().to_string().contains("two interface files have the stem `primes`"));
    let missing = configure().out_dir(&out).compile(&[dir.join("src/missing.rs")]).unwrap_err();
    assert!(matches!(missing, Error::Read { .. }), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_component_supertrait_is_accepted_and_implemented_by_the_proxy() {
    let source = "pub trait Cache: hatch::components::Component { fn get(&self, key: u64) -> Option<u64>; }";
    let out = tokens(source, "::hatch::codegen");
    assert!(out.contains("impl hatch :: components :: Component for CacheProxy { }"), "{out}");
    let plain = tokens("pub trait Cache: Send + Sync { fn get(&self, key: u64) -> Option<u64>; }", "::hatch::codegen");
    assert!(!plain.contains("Component for CacheProxy"));
    assert_eq!(
        fingerprint_of("pub trait Cache: Component { fn get(&self, key: u64) -> Option<u64>; }"),
        fingerprint_of("pub trait Cache: Send + Sync { fn get(&self, key: u64) -> Option<u64>; }"),
        "supertraits do not change the wire contract"
    );
}

#[test]
fn a_service_whose_methods_take_no_arguments_does_not_leave_the_payload_unused() {
    let out = tokens("pub trait Clock: Send + Sync { fn now(&self) -> u64; fn tick(&self); }", "::hatch::codegen");
    assert!(out.contains("let _ = payload ;"), "{out}");
    let with_args = tokens("pub trait Clock: Send + Sync { fn set(&self, t: u64); }", "::hatch::codegen");
    assert!(!with_args.contains("let _ = payload ;"));
}

const HANDLER: &str = r#"
pub trait Handler: Send + Sync {
    fn handle(&self, socket: &dyn net::Socket, chunk: u32) -> u64;
    fn close(&self, socket: &dyn Socket);
    fn relay(&self, from: &dyn Socket, to: &(dyn Socket + Send)) -> u64;
}
"#;

#[test]
fn interface_arguments_stay_home_and_become_callback_slots() {
    let out = tokens(HANDLER, "::hatch::codegen");
    // Not sent: the argument struct holds the data arguments only.
    assert!(out.contains("pub struct HandleArgs { pub chunk : u32 , }"), "{out}");
    assert!(out.contains("pub struct CloseArgs { }"), "{out}");
    // The proxy converses, answering each slot with the interface's own dispatcher.
    assert!(out.contains(". converse (handler_wire :: HANDLE , \"handle\""), "{out}");
    assert!(out.contains("0u8 => net :: SocketServer :: dispatch_to (socket , hatch_callback . method"), "{out}");
    assert!(out.contains("1u8 => SocketServer :: dispatch_to (to ,"), "{out}");
    // A `()` method with an interface argument waits for its reply.
    assert!(out.contains(". converse (handler_wire :: CLOSE"), "{out}");
    assert!(!out.contains(". send (handler_wire :: CLOSE"), "{out}");
    // The server runs it as a conversation with a reverse proxy that gives up at once.
    assert!(out.contains("self . conversations . start (reply"), "{out}");
    assert!(
        out.contains(
            "let hatch_reverse_socket = net :: SocketProxy :: new (hatch_reverse . channel (0u8)) . with_failure_handler (:: hatch :: codegen :: give_up ())"
        ),
        "{out}"
    );
    assert!(
        out.contains(":: hatch :: codegen :: CONTINUE => self . conversations . resume (payload , reply)"),
        "{out}"
    );
    // Called back on a borrowed implementation, a conversational method is refused.
    assert!(out.contains("handler_wire :: HANDLE => Err (:: hatch :: codegen :: ServiceError :: bad_request"), "{out}");
}

#[test]
fn interface_arguments_change_the_fingerprint_and_bad_forms_are_refused() {
    let data = fingerprint_of("pub trait H: Send + Sync { fn f(&self, s: &Socket) -> u64; }");
    let interface = fingerprint_of("pub trait H: Send + Sync { fn f(&self, s: &dyn Socket) -> u64; }");
    assert_ne!(data, interface);
    let err = error_of("pub trait H: Send + Sync { fn f(&self, s: &mut dyn Socket); }");
    assert!(err.contains("`&mut` arguments are not supported"), "{err}");
    let err = error_of("pub trait H: Send + Sync { fn f(&self, s: &dyn Socket<u8>); }");
    assert!(err.contains("cannot be generic"), "{err}");
}
