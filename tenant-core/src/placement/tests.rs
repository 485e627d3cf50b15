use proptest::prelude::*;
use serde::Deserialize;

use super::*;

/// The fleet part of a `tenancy.toml`.
#[derive(Deserialize)]
struct Fleet {
    databases: Vec<DatabaseConfig>,
    #[serde(default)]
    placement: PlacementConfig,
}

fn placement(toml_text: &str) -> Result<Placement, PlacementError> {
    let fleet: Fleet = toml::from_str(toml_text).expect("valid TOML");
    Placement::new(&fleet.databases, &fleet.placement)
}

const TWO: &str = r#"
    [[databases]]
    name = "eu1"
    url_env = "EU1_DATABASE_URL"
    [[databases]]
    name = "us1"
    url_env = "US1_DATABASE_URL"
    pool_size = 20
"#;

fn with_two(rules: &str) -> Result<Placement, PlacementError> {
    placement(&format!("{TWO}\n{rules}"))
}

#[test]
fn list_then_range_then_default() {
    let p = with_two(
        r#"
        [placement]
        default = "eu1"
        [[placement.list]]
        database = "us1"
        tenants = ["acme", "globex"]
        [[placement.list]]
        database = "eu1"
        tenants = ["nestle"]
        [[placement.range]]
        database = "us1"
        start = "m"
        end = "t"
        "#,
    )
    .unwrap();
    // The list wins over the range that also holds "nestle".
    assert_eq!(p.place("nestle").unwrap(), "eu1");
    assert_eq!(p.place("acme").unwrap(), "us1");
    assert_eq!(p.place("m").unwrap(), "us1", "start is inclusive");
    assert_eq!(p.place("sz").unwrap(), "us1");
    assert_eq!(p.place("t").unwrap(), "eu1", "end is exclusive");
    assert_eq!(p.place("a").unwrap(), "eu1");
    // Byte order: "Z" (0x5A) sorts before "m"; "é" (0xC3..) after "t".
    assert_eq!(p.place("Zeta").unwrap(), "eu1");
    assert_eq!(p.place("émile").unwrap(), "eu1");
    assert_eq!(p.databases(), ["eu1", "us1"]);
}

#[test]
fn integer_ids_compare_numerically() {
    let p = with_two(
        r#"
        [placement]
        key_type = "integer"
        [[placement.range]]
        database = "eu1"
        end = "10"
        [[placement.range]]
        database = "us1"
        start = "10"
        end = "1000"
        "#,
    )
    .unwrap();
    assert_eq!(p.place("9").unwrap(), "eu1");
    assert_eq!(p.place("-5").unwrap(), "eu1", "unbounded below");
    assert_eq!(p.place("10").unwrap(), "us1");
    assert_eq!(p.place("099").unwrap(), "us1", "99, not text order");
    assert_eq!(
        p.place("1000"),
        Err(PlacementError::Unplaced {
            tenant: "1000".into()
        })
    );
    assert_eq!(
        p.place("acme").unwrap_err().to_string(),
        "the tenant id `acme` is not of the placement's key type, integer"
    );
}

#[test]
fn uuids_compare_bytewise_whatever_their_spelling() {
    let p = with_two(
        r#"
        [placement]
        key_type = "uuid"
        [[placement.range]]
        database = "eu1"
        end = "80000000-0000-0000-0000-000000000000"
        [[placement.range]]
        database = "us1"
        start = "80000000-0000-0000-0000-000000000000"
        "#,
    )
    .unwrap();
    assert_eq!(
        p.place("7fffffff-ffff-ffff-ffff-ffffffffffff").unwrap(),
        "eu1"
    );
    assert_eq!(p.place("80000000000000000000000000000000").unwrap(), "us1");
    assert_eq!(
        p.place("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}").unwrap(),
        "us1"
    );
    assert!(matches!(
        p.place("a0eebc99"),
        Err(PlacementError::TenantNotOfKeyType { .. })
    ));
}

/// Each mistake in the file is refused with a message naming the entry.
#[test]
fn bad_rules_name_the_entry() {
    let cases: &[(&str, &str)] = &[
        (
            "[placement]\ndefault = \"ap1\"",
            "placement.default names the database `ap1`, which `[[databases]]` does not declare",
        ),
        (
            "[[placement.list]]\ndatabase = \"eu1\"\ntenants = [\"acme\"]\n\
             [[placement.list]]\ndatabase = \"us1\"\ntenants = [\"acme\"]",
            "the tenant `acme` is listed by placement.list[0] (database `eu1`) and again by \
             placement.list[1] (database `us1`)",
        ),
        (
            "[[placement.range]]\ndatabase = \"eu1\"\nstart = \"a\"\nend = \"n\"\n\
             [[placement.range]]\ndatabase = \"us1\"\nstart = \"m\"",
            "placement.range[0] (database `eu1`) and placement.range[1] (database `us1`) overlap",
        ),
        (
            "[[placement.range]]\ndatabase = \"eu1\"\n\
             [[placement.range]]\ndatabase = \"us1\"\nstart = \"m\"",
            "placement.range[0] (database `eu1`) and placement.range[1] (database `us1`) overlap",
        ),
        (
            "[[placement.range]]\ndatabase = \"eu1\"\nstart = \"n\"\nend = \"n\"",
            "placement.range[0] (database `eu1`): its start `n` is not below its end `n`",
        ),
        (
            "[placement]\nkey_type = \"integer\"\n\
             [[placement.range]]\ndatabase = \"eu1\"\nend = \"ten\"",
            "placement.range[0] (database `eu1`): `ten` is not a tenant id of key type integer",
        ),
        (
            "[[placement.range]]\ndatabase = \"ap1\"",
            "placement.range[0] (database `ap1`) names the database `ap1`",
        ),
    ];
    for (rules, expected) in cases {
        let error = with_two(rules).expect_err(rules).to_string();
        assert!(
            error.contains(expected),
            "{rules}\n=> {error}\nwanted {expected}"
        );
    }
    // Integer ids equal as numbers are one tenant.
    let error = with_two(
        "[placement]\nkey_type = \"integer\"\n\
         [[placement.list]]\ndatabase = \"eu1\"\ntenants = [\"7\", \"07\"]",
    )
    .unwrap_err();
    assert!(
        matches!(error, PlacementError::DuplicateListValue { .. }),
        "{error}"
    );
}

#[test]
fn bad_databases_are_refused() {
    let twice = "[[databases]]\nname = \"eu1\"\nurl_env = \"A\"\n\
                 [[databases]]\nname = \"eu1\"\nurl_env = \"B\"";
    assert_eq!(
        placement(twice).unwrap_err().to_string(),
        "`[[databases]]` names `eu1` twice"
    );
    let empty = "[[databases]]\nname = \"eu1\"\nurl_env = \" \"";
    assert_eq!(
        placement(empty).unwrap_err().to_string(),
        "`databases[0]`: `url_env` must not be empty"
    );
    assert_eq!(
        Placement::new(&[], &PlacementConfig::default()).unwrap_err(),
        PlacementError::NoDatabases
    );
    let unknown_key = format!("{TWO}\n[placement]\nshard_by = \"id\"");
    assert!(toml::from_str::<Fleet>(&unknown_key).is_err());
}

#[test]
fn urls_come_from_the_named_variables() {
    let fleet: Fleet = toml::from_str(TWO).unwrap();
    let env = |name: &str| (name == "EU1_DATABASE_URL").then(|| "postgres://eu1/app".to_string());
    assert_eq!(
        database_urls(&fleet.databases, env)
            .unwrap_err()
            .to_string(),
        "the database `us1` reads its URL from $US1_DATABASE_URL, which is not set"
    );
    let both = |name: &str| Some(format!("postgres://{name}/app"));
    assert_eq!(
        database_urls(&fleet.databases, both).unwrap(),
        [
            (
                "eu1".to_string(),
                "postgres://EU1_DATABASE_URL/app".to_string()
            ),
            (
                "us1".to_string(),
                "postgres://US1_DATABASE_URL/app".to_string()
            )
        ]
    );
}

/// Listed ids match by their key type's value, not their spelling.
#[test]
fn listed_ids_match_whatever_their_spelling() {
    let p = with_two(
        r#"
        [placement]
        key_type = "uuid"
        [[placement.list]]
        database = "us1"
        tenants = ["{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}"]
        [[placement.list]]
        database = "eu1"
        tenants = ["00000000-0000-0000-0000-000000000001"]
        "#,
    )
    .unwrap();
    assert_eq!(p.place("a0eebc999c0b4ef8bb6d6bb9bd380a11").unwrap(), "us1");
    assert_eq!(p.place("00000000000000000000000000000001").unwrap(), "eu1");
    assert!(matches!(
        p.place("000000000000000000000000000000001"),
        Err(PlacementError::TenantNotOfKeyType { .. })
    ));
    assert!(matches!(
        p.place("00000000000000000000000000000002"),
        Err(PlacementError::Unplaced { .. })
    ));
    let p = with_two(
        r#"
        [placement]
        key_type = "integer"
        [[placement.list]]
        database = "us1"
        tenants = ["42", "-7"]
        "#,
    )
    .unwrap();
    assert_eq!(p.place(" 042").unwrap(), "us1");
    assert_eq!(p.place("-7").unwrap(), "us1");
    assert!(p.place("7").is_err());
    // Text ids of any length (their lengths are stored in one byte below
    // 128, in more above), and the empty one.
    let long: Vec<String> = [0, 1, 127, 128, 300, 20_000]
        .iter()
        .map(|&n| "x".repeat(n))
        .collect();
    let config = PlacementConfig {
        list: vec![ListRule {
            database: "us1".into(),
            tenants: long.clone(),
        }],
        ..Default::default()
    };
    let fleet: Fleet = toml::from_str(TWO).unwrap();
    let p = Placement::new(&fleet.databases, &config).unwrap();
    for id in &long {
        assert_eq!(p.place(id).unwrap(), "us1", "{}", id.len());
    }
    for n in [2, 129, 301] {
        assert!(p.place(&"x".repeat(n)).is_err(), "{n}");
    }
}

proptest! {
    /// The list's hash table finds what a scan of the rules finds, and
    /// refuses the first id listed twice naming both rules, for any rules
    /// (some empty) over a small alphabet, so that ids repeat often.
    #[test]
    fn list_lookup_agrees_with_a_scan(
        rules in proptest::collection::vec(
            (0usize..3, proptest::collection::vec("[ab]{0,4}", 0..12)),
            0..8,
        ),
        probes in proptest::collection::vec("[abc]{0,5}", 20),
    ) {
        let databases: Vec<DatabaseConfig> = (0..3)
            .map(|i| DatabaseConfig { name: format!("db{i}"), url_env: format!("DB{i}"), pool_size: None })
            .collect();
        let config = PlacementConfig {
            list: rules
                .iter()
                .map(|(db, tenants)| ListRule { database: format!("db{db}"), tenants: tenants.clone() })
                .collect(),
            ..Default::default()
        };
        let name = |i: usize| format!("placement.list[{i}] (database `db{}`)", rules[i].0);
        let mut seen: Vec<(&str, usize)> = Vec::new();
        let mut duplicate = None;
        'rules: for (index, (_, tenants)) in rules.iter().enumerate() {
            for tenant in tenants {
                if let Some(&(_, first)) = seen.iter().find(|(t, _)| t == tenant) {
                    duplicate = Some(PlacementError::DuplicateListValue {
                        tenant: tenant.clone(),
                        first: name(first),
                        second: name(index),
                    });
                    break 'rules;
                }
                seen.push((tenant, index));
            }
        }
        match (Placement::new(&databases, &config), duplicate) {
            (Err(error), Some(expected)) => prop_assert_eq!(error, expected),
            (Ok(placement), None) => {
                let listed = seen.iter().map(|(t, _)| t.to_string());
                for id in listed.chain(probes) {
                    let scanned = seen
                        .iter()
                        .find(|(t, _)| *t == id)
                        .map(|&(_, rule)| format!("db{}", rules[rule].0));
                    prop_assert_eq!(placement.place(&id).ok().map(str::to_string), scanned);
                }
            }
            (built, expected) => prop_assert!(false, "built {:?}, expected {:?}", built.map(|_| ()), expected),
        }
    }

    /// The binary search finds what a scan of every rule finds, for any
    /// set of non-overlapping integer ranges (with gaps) and any id.
    #[test]
    fn binary_search_agrees_with_a_scan(
        cuts in proptest::collection::btree_set(-1000i64..1000, 0..40),
        gaps in proptest::collection::vec(any::<bool>(), 40),
        ids in proptest::collection::vec(-1100i64..1100, 50),
    ) {
        let cuts: Vec<i64> = cuts.into_iter().collect();
        let databases: Vec<DatabaseConfig> = (0..3)
            .map(|i| DatabaseConfig { name: format!("db{i}"), url_env: format!("DB{i}"), pool_size: None })
            .collect();
        let mut rules = PlacementConfig { key_type: KeyType::Integer, ..Default::default() };
        let mut expected: Vec<(i64, i64, String)> = Vec::new();
        for (i, pair) in cuts.windows(2).enumerate() {
            if gaps[i % gaps.len()] {
                continue;
            }
            let database = format!("db{}", i % 3);
            rules.range.push(RangeRule {
                database: database.clone(),
                start: Some(pair[0].to_string()),
                end: Some(pair[1].to_string()),
            });
            expected.push((pair[0], pair[1], database));
        }
        // Declared in reverse: the order in the file does not matter.
        rules.range.reverse();
        let placement = Placement::new(&databases, &rules).unwrap();
        for id in ids {
            let scanned = expected
                .iter()
                .find(|(start, end, _)| *start <= id && id < *end)
                .map(|(_, _, db)| db.as_str());
            prop_assert_eq!(placement.place(&id.to_string()).ok(), scanned);
        }
    }
}
