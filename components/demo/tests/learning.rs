//! Decentralised learners over real placements (paper §4.3, DES §III-C/E): two hosts that may
//! both distribute onto agent D are pruned so that only one does; the other learns live over its
//! remaining placements (local, or on agent E) while a caller keeps calling, with real
//! relocations and replications onto in-process agents.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hatch::learner::envclass::{Classifier, PerClass};
use hatch::learner::host::HostLearner;
use hatch::learner::policy::Ucb1;
use hatch::learner::probe::InProcessProbe;
use hatch::learner::topology::{self, PlacedActuator};
use hatch::learner::window::WindowConfig;
use hatch_components::remote::{Agent, Host, Key, Placed, PlacedSpace, PlacedSystem, Site};
use hatch_demo::primes::Primes;

fn uses(placed: &Placed, agent: &str) -> bool {
    placed.sites().iter().any(|site| matches!(site, Site::Remote(hosts) if hosts.iter().any(|h| h == agent)))
}

#[test]
fn pruned_hosts_learn_over_placements_without_sharing_an_agent() {
    let key = Key::generate().unwrap();
    let catalog = Arc::new(hatch_demo::catalog());
    let any = "127.0.0.1:0".parse().unwrap();
    let (d, e) = (
        Agent::start(any, catalog.clone(), key.clone()).unwrap(),
        Agent::start(any, catalog.clone(), key.clone()).unwrap(),
    );
    let (d_addr, e_addr) = (d.addr().to_string(), e.addr().to_string());
    let space = catalog.registry().space::<dyn Primes>().unwrap();
    // Host 1 may place onto D; host 2 onto D and E. Agents D and E are hosts 3 and 4.
    let spaces = [
        PlacedSpace::new(space.clone(), catalog.clone(), vec![d_addr.clone()]),
        PlacedSpace::new(space.clone(), catalog.clone(), vec![d_addr.clone(), e_addr.clone()]),
    ];
    let id = |address: &str| [(&d_addr, 3), (&e_addr, 4)].iter().find(|(a, _)| *a == address).map(|&(_, id)| id);
    let plans = topology::plan(&[(1, &spaces[0]), (2, &spaces[1])], id).unwrap();
    assert_eq!(plans[0].arms.len() as u64, spaces[0].count(), "host 1 owns D and keeps everything");
    assert!(plans[0].removed.is_empty());
    let kept: Vec<Placed> = plans[1].arms.iter().map(|&i| spaces[1].placed(i).unwrap()).collect();
    assert!(kept.iter().all(|p| !uses(p, &d_addr)), "host 2 never places onto D");
    assert!(kept.iter().any(|p| uses(p, &e_addr)), "host 2 still places onto E");
    assert!(kept.iter().any(|p| p.sites().iter().all(|s| *s == Site::Local)), "and keeps its local compositions");
    assert_eq!(plans[1].arms.len() + plans[1].removed.len(), spaces[1].count() as usize);
    assert!(plans[1].removed.iter().all(|r| (r.target, r.owner) == (3, 1)));
    let unknown = topology::plan(&[(1, &spaces[0])], |_| None).unwrap_err();
    assert!(unknown.to_string().contains("unknown agent"), "{unknown}");

    // Host 2 learns live over its arms.
    let hosts = BTreeMap::from([
        (d_addr.clone(), Arc::new(Host::connect(d.addr(), &key).unwrap())),
        (e_addr.clone(), Arc::new(Host::connect(e.addr(), &key).unwrap())),
    ]);
    let arms = plans[1].arms.clone();
    let first = spaces[1].placed(arms[0]).unwrap();
    let system = PlacedSystem::assemble(&space, catalog.clone(), hosts, &first).unwrap();
    let root = system.system().root::<dyn Primes>().unwrap();
    let [_, c_space] = spaces;
    let probe = InProcessProbe::new(1);
    let n = arms.len();
    let mut learner = HostLearner::start(
        PerClass::new(move |_| Ucb1::new(n)),
        Classifier::default(),
        PlacedActuator::new(system, c_space, arms),
        probe.clone(),
        WindowConfig { min_samples: Some(20), ..WindowConfig::default() },
        false,
        Duration::ZERO,
    );
    let (stop, calls, expected) =
        (AtomicBool::new(false), AtomicU64::new(0), (1000..1100).filter(|&n| is_prime(n)).count() as u64);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(probe.time(0, || root.load().count(1000, 1100)), expected);
                calls.fetch_add(1, Ordering::Relaxed);
            }
        });
        let start = Instant::now();
        let mut windows = 0;
        while windows < 2 * n {
            assert!(start.elapsed() < Duration::from_secs(60), "windows stopped closing");
            match learner.poll(start.elapsed(), std::iter::empty::<(&str, f64)>()) {
                Some(_) => {
                    windows += 1;
                    assert!(!uses(&learner.actuator().system().placed(), &d_addr), "placed onto D");
                }
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let actuator = learner.actuator();
    assert_eq!(actuator.errors(), 0, "{:?}", actuator.last_error());
    // UCB1 tries every arm once before repeating one.
    assert!(actuator.transitions() >= n as u64 - 1, "{} transitions over {n} arms", actuator.transitions());
    assert!(calls.load(Ordering::Relaxed) >= 40 * n as u64);
}

fn is_prime(n: u64) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| !n.is_multiple_of(d))
}
