//! Counting, indexing and validation of composition spaces.

mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::*;
use hatch_components::{Composition, CompositionError, Registry, RegistryError, SpaceError};

#[test]
fn counts_match_hand_computation() {
    let r = web_registry();
    let space = r.space::<dyn App>().unwrap();
    assert_eq!(space.count_of("Store"), Some(2));
    assert_eq!(space.count_of("Cache"), Some(3));
    assert_eq!(space.count_of("Handler"), Some(8));
    assert_eq!(space.count(), 72);
    assert_eq!(r.space::<dyn Handler>().unwrap().count(), 8);
    assert_eq!(space.variants_of("Cache").unwrap(), ["LfuCache", "ListCache", "LruCache"]);
}

#[test]
fn every_index_is_a_distinct_valid_composition() {
    let space = web_registry().space::<dyn App>().unwrap();
    let mut seen = HashSet::new();
    for (i, comp) in space.iter().enumerate() {
        assert_eq!(space.index_of(&comp).unwrap(), i as u64);
        assert!(seen.insert(comp.to_string()), "duplicate {comp}");
    }
    assert_eq!(seen.len(), 72);
    assert!(seen.contains("{Frontend,Direct,Disk|0:Handler:1,1:Store:2}"));
    assert!(
        seen.contains(
            "{Mirror,Cached,LruCache,Memory,Direct,Disk|0:Handler:1,1:Cache:2,1:Store:3,0:Handler:4,4:Store:5}"
        )
    );
}

#[test]
fn indices_do_not_depend_on_registration_order() {
    let forward = web_registry().space::<dyn App>().unwrap();
    let mut r = Registry::new();
    register_apps(&mut r);
    register_handlers(&mut r);
    register_caches(&mut r);
    register_stores(&mut r);
    let backward = r.space::<dyn App>().unwrap();
    for i in 0..forward.count() {
        assert_eq!(forward.composition(i).unwrap(), backward.composition(i).unwrap());
    }
}

#[test]
fn cycles_are_rejected_with_their_path() {
    let mut r = Registry::new();
    node(&mut r, "A", "A1", &["B"]);
    node(&mut r, "B", "B1", &[]);
    node(&mut r, "B", "B2", &["C"]);
    node(&mut r, "C", "C1", &["A"]);
    let err = r.space_named("A").unwrap_err();
    let path = |p: &[&str]| SpaceError::Cycle { path: p.iter().map(|&s| s.into()).collect() };
    assert_eq!(err, path(&["A", "A1", "B", "B2", "C", "C1", "A"]));
    assert_eq!(err.to_string(), "dependency cycle: A -> A1 -> B -> B2 -> C -> C1 -> A");
    // A decorator requiring its own interface is a cycle too.
    let mut r = Registry::new();
    node(&mut r, "Cache", "Plain", &[]);
    node(&mut r, "Cache", "Logging", &["Cache"]);
    assert!(matches!(r.space_named("Cache"), Err(SpaceError::Cycle { .. })));
    // Sharing is not a cycle: B is required twice along different paths.
    let mut r = Registry::new();
    node(&mut r, "A", "A1", &["B", "C"]);
    node(&mut r, "C", "C1", &["B"]);
    node(&mut r, "B", "B1", &[]);
    node(&mut r, "B", "B2", &[]);
    assert_eq!(r.space_named("A").unwrap().count(), 4);
}

#[test]
fn missing_provider_is_reported_by_name() {
    let mut r = Registry::new();
    node(&mut r, "A", "A1", &["B"]);
    node(&mut r, "B", "B1", &["Missing"]);
    let err = r.space_named("A").unwrap_err();
    assert_eq!(err, SpaceError::NoProvider { interface: "Missing".into(), required_by: Some("B1".into()) });
    assert_eq!(err.to_string(), "no variant provides interface `Missing` (required by `B1`)");
    assert!(matches!(r.space_named("Nope"), Err(SpaceError::NoProvider { required_by: None, .. })));
}

#[test]
fn registration_errors() {
    let mut r = Registry::new();
    node(&mut r, "A", "A1", &[]);
    let dup = r.variant_as::<dyn Node>("B", "A1").build(|_| Box::new(Blank));
    assert_eq!(dup, Err(RegistryError::DuplicateVariant("A1".into())));
    let bad = r.variant_as::<dyn Node>("B", "x{y}").build(|_| Box::new(Blank));
    assert_eq!(bad, Err(RegistryError::InvalidName("x{y}".into())));
    let wrong_type = r.variant_as::<dyn Store>("A", "S").build(|_| unreachable!());
    assert!(matches!(wrong_type, Err(RegistryError::InterfaceTypeMismatch { .. })));
}

#[test]
fn overflow_is_an_error_not_a_wrap() {
    // 16 variants, each level requiring the previous one 16 times: 16^(16·…) overflows.
    let mut r = Registry::new();
    for k in 0..16 {
        node(&mut r, "L0", &format!("L0v{k}"), &[]);
    }
    for level in 1..6 {
        let below = format!("L{}", level - 1);
        let reqs = vec![below.as_str(); 16];
        node(&mut r, &format!("L{level}"), &format!("L{level}v"), &reqs);
    }
    assert!(matches!(r.space_named("L5"), Err(SpaceError::TooLarge { .. })));
}

#[test]
fn foreign_compositions_are_rejected() {
    let space = web_registry().space::<dyn App>().unwrap();
    let check = |id: &str| space.index_of(&id.parse::<Composition>().unwrap()).unwrap_err();
    assert_eq!(
        check("{Frontend,Direct,Floppy|0:Handler:1,1:Store:2}"),
        CompositionError::UnknownVariant("Floppy".into())
    );
    assert!(matches!(check("{Direct,Disk|0:Store:1}"), CompositionError::WrongInterface { index: 0, .. }));
    assert!(matches!(check("{Frontend,Direct|0:Handler:1}"), CompositionError::WrongWiring { index: 1, .. }));
    assert!(matches!(check("{Frontend,Direct,Disk|0:Handler:1,1:Cache:2}"), CompositionError::WrongWiring { .. }));
    assert!(matches!(space.composition(72), Err(CompositionError::IndexOutOfRange { index: 72, count: 72 })));
}

#[test]
fn web_platform_sized_space_counts_and_indexes() {
    let registry = web_platform();
    let started = Instant::now();
    let space = registry.space_named("Web").unwrap();
    let built = started.elapsed();
    assert_eq!(space.count(), 718_823);
    assert_eq!(space.count_of("Cache"), Some(59));
    assert_eq!(space.count_of("Http"), Some(29));

    let first = space.composition(0).unwrap();
    // Variants in name order: WebA first; Http1 (Parser0), Cache0, Store0.
    assert_eq!(first.to_string(), "{WebA,Http1,Parser0,Cache0,Store0|0:Http:1,1:Parser:2,0:Cache:3,0:Store:4}");
    let last = space.composition(space.count() - 1).unwrap();
    assert_eq!(
        last.to_string(),
        "{WebC,Http3,TieredCache,Store6,Policy4,TieredCache,Store6,Policy4,Store6|\
         0:Http:1,0:Cache:2,2:Store:3,2:Policy:4,0:Cache:5,5:Store:6,5:Policy:7,0:Store:8}"
    );
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut indices = vec![0, 1, 11_976, 11_977, 12_179, 12_180, space.count() - 1];
    for _ in 0..2_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        indices.push(x % space.count());
    }
    let started = Instant::now();
    for &i in &indices {
        let comp = space.composition(i).unwrap();
        let parsed: Composition = comp.to_string().parse().unwrap();
        assert_eq!(parsed, comp);
        assert_eq!(space.index_of(&parsed).unwrap(), i);
        let choices = space.choices(&comp).unwrap();
        assert_eq!(space.from_choices(&choices).unwrap(), comp);
    }
    println!(
        "718,823-composition space built in {built:?}; {} index→id→parse→index→choices round trips in {:?} (debug build unless --release)",
        indices.len(),
        started.elapsed()
    );
    // Neighbouring boundaries switch the root variant.
    assert!(space.composition(11_976).unwrap().to_string().starts_with("{WebA,"));
    assert!(space.composition(11_977).unwrap().to_string().starts_with("{WebB,"));
    assert!(space.composition(12_180).unwrap().to_string().starts_with("{WebC,"));
}

#[test]
fn decision_structure_of_web_stack() {
    let space = web_registry().space::<dyn App>().unwrap();
    let decisions = space.decisions().unwrap();
    let paths: Vec<&str> = decisions.iter().map(|d| d.path.as_str()).collect();
    // Handler sub-tree: Handler, Cached.0:Cache, Cached.1:Store, Direct.0:Store = 4.
    assert_eq!(paths.len(), 1 + 4 + 4 + 4);
    assert_eq!(paths[0], "App");
    assert_eq!(paths[1], "App/Frontend.0:Handler");
    assert_eq!(paths[2], "App/Frontend.0:Handler/Cached.0:Cache");
    assert_eq!(decisions[2].parent, Some((1, 0)));
    assert_eq!(
        decisions[2].variants,
        ["LfuCache".into(), "ListCache".into(), "LruCache".into()] as [std::sync::Arc<str>; 3]
    );
    for i in 0..space.count() {
        let comp = space.composition(i).unwrap();
        let choices = space.choices(&comp).unwrap();
        // Active decisions: the root and exactly the components below it.
        assert_eq!(choices.iter().flatten().count(), comp.components().len());
        assert_eq!(space.from_choices(&choices).unwrap(), comp);
    }
    assert!(space.from_choices(&[Some(0)]).is_err());
    let mut bad = space.choices(&space.composition(0).unwrap()).unwrap();
    bad[1] = Some(9);
    assert!(space.from_choices(&bad).is_err());
}
