//! Identifier round trips: format → parse → same composition.

mod common;

use hatch_components::{ComponentChoice, Composition, Placement, Wiring};
use proptest::prelude::*;

/// A random tree in pre-order: node k > 0 hangs under an ancestor of node k-1.
fn tree() -> impl Strategy<Value = Composition> {
    let name = "[A-Za-z][A-Za-z0-9_.-]{0,8}";
    (1usize..24)
        .prop_flat_map(move |n| {
            (
                proptest::collection::vec(name, n),
                proptest::collection::vec(any::<prop::sample::Index>(), n),
                proptest::collection::vec(name, n),
            )
        })
        .prop_map(|(names, picks, interfaces)| {
            let mut wirings = Vec::new();
            let mut path = vec![0usize];
            for k in 1..names.len() {
                // Choose the parent among the ancestors-or-self of k-1.
                let keep = picks[k].index(path.len()) + 1;
                path.truncate(keep);
                let from = *path.last().unwrap();
                wirings.push(Wiring { from, interface: interfaces[k].as_str().into(), to: k });
                path.push(k);
            }
            let components =
                names.into_iter().map(|n| ComponentChoice { variant: n.into(), placement: Placement::Local }).collect();
            Composition::new(components, wirings).expect("generator builds pre-order trees")
        })
}

proptest! {
    #[test]
    fn format_then_parse_is_identity(comp in tree()) {
        let id = comp.to_string();
        let parsed: Composition = id.parse().unwrap();
        prop_assert_eq!(&parsed, &comp);
        prop_assert_eq!(parsed.to_string(), id);
    }

    #[test]
    fn spaced_identifiers_parse_to_the_same_composition(comp in tree()) {
        let spaced = comp.to_string().replace(',', " , ").replace('|', " | ").replace('{', "{ ");
        prop_assert_eq!(spaced.parse::<Composition>().unwrap(), comp);
    }

    #[test]
    fn space_index_round_trips(i in 0u64..718_823) {
        let space = common::web_platform().space_named("Web").unwrap();
        let comp = space.composition(i).unwrap();
        let parsed: Composition = comp.to_string().parse().unwrap();
        prop_assert_eq!(space.index_of(&parsed).unwrap(), i);
    }

    #[test]
    fn parser_never_panics(s in "[{}|:,A-Za-z0-9 ]{0,40}") {
        let _ = s.parse::<Composition>();
    }
}
