-- The built-in functions, system relations and operators of PostgreSQL that
-- the tenancy analyzer accepts, listed from the server's own catalog.
--
-- Run by tenant-core/tools/gen_catalog.sh, which writes the output (the Rust
-- source of tenant-core/src/analyzer/catalog_list.rs) in one piece:
--
--     bash tenant-core/tools/gen_catalog.sh
--
-- To browse the classification instead, run `\i tenant-core/tools/catalog.sql`
-- in psql and query the temporary views it leaves behind:
--
--     SELECT * FROM catalog_functions WHERE reason IS NOT NULL;
--     SELECT * FROM catalog_relations WHERE reason IS NOT NULL;
--     SELECT * FROM catalog_operators;
--
-- Everything it creates is temporary (pg_temp); nothing in the database changes.
--
-- Policy. A built-in function is accepted only when it is known not to run
-- SQL, read a relation's rows, a file of the server, the WAL, a large object,
-- a sequence's state, statistics about relations or other sessions' activity,
-- and to have no effect visible to other tenants. Reading the catalog's
-- definitions (format_type, pg_get_viewdef, has_table_privilege..) is
-- accepted: that is schema metadata, not a tenant's data. The unit is the
-- function NAME: a name is refused when any of its overloads is.
--
-- Built-in means: in pg_catalog, created by initdb (OID below
-- FirstNormalObjectId, 16384) and not a member of an extension (plpgsql's
-- handlers are). All sorting uses the C collation (byte order), which is the
-- order Rust's binary search expects.

-- ---------------------------------------------------------------------------
-- (a) Functions
-- ---------------------------------------------------------------------------

-- The refused families: a regular expression matched against the WHOLE
-- function name, and the reason an error message gives. When several match,
-- the lowest `ord` wins.
CREATE TEMP VIEW catalog_function_exclusions (ord, pattern, reason) AS VALUES
    -- Statistics: counters and sizes that count every tenant's rows.
    (10, 'pg_stat_(get|have|clear|force)_.*',
         'reads the cumulative statistics (row counts, scans, other sessions'' activity)'),
    (11, 'pg_(relation|total_relation|table|indexes|database|tablespace)_size',
         'reads the on-disk size of a relation, database or tablespace, a statistic of every tenant''s rows'),
    -- Files of the server.
    (20, 'pg_ls_.*|pg_read_.*|pg_stat_file',
         'reads the server''s files or directories'),
    (21, 'pg_hba_file_rules|pg_ident_file_mappings|pg_show_all_file_settings',
         'reads the server''s configuration files'),
    (22, 'pg_current_logfile',
         'reads the server''s log file location'),
    (23, 'pg_relation_filenode|pg_relation_filepath|pg_filenode_relation',
         'maps relations to their data files'),
    (24, 'pg_tablespace_databases|pg_tablespace_location',
         'reads a tablespace''s directory'),
    (25, 'pg_control_.*',
         'reads the server''s control file (checkpoint and WAL positions)'),
    -- Write-ahead log and replication: every tenant's changes.
    (30, 'pg_logical_emit_message',
         'writes a message into the WAL, read by logical decoding'),
    (31, 'pg_.*replication.*|pg_logical_.*',
         'replication slots and origins: every tenant''s changes and server-wide state'),
    (32, 'pg_.*wal.*|pg_last_xact_replay_timestamp',
         'reads or controls the WAL (write positions, replay), which records every tenant''s changes'),
    -- Large objects and sequences: shared by all tenants.
    (40, 'lo_.*|loread|lowrite',
         'reads or changes a large object, which any tenant can address by its OID'),
    (41, 'nextval|currval|lastval|setval|pg_sequence_last_value',
         'reads or advances a sequence, whose value counts every tenant''s rows'),
    -- SQL the analyzer cannot see.
    (50, '(query|table|schema|database|cursor)_to_xml.*',
         'runs a query, or reads tables named by a string, that the analyzer cannot check'),
    (51, 'ts_stat|ts_rewrite',
         'runs the query given as a string, which the analyzer cannot check'),
    (52, 'currtid2',
         'reads a row of a table named by a string'),
    -- Session state that outlives the statement on a pooled connection.
    (60, 'set_config',
         'changes a setting, such as the one row-level security reads for the tenant'),
    (61, 'setseed',
         'changes the session''s random() sequence, which outlives the statement on a pooled connection'),
    -- Other sessions' activity, and channels between sessions.
    (70, 'pg_notify',
         'sends a notification other sessions receive'),
    (71, 'pg_notification_queue_usage',
         'reveals other sessions'' pending notifications'),
    (72, 'pg_lock_status|pg_blocking_pids|pg_safe_snapshot_blocking_pids|pg_isolation_test_session_is_blocked',
         'reveals other sessions'' locks'),
    (73, 'txid_.*|pg_current_xact_id.*|pg_xact_.*|pg_snapshot_.*|pg_current_snapshot|pg_visible_in_snapshot'
         '|pg_last_committed_xact|pg_get_multixact_members|mxid_age',
         'reveals transaction ids, snapshots or commit status, and so other sessions'' transactions'),
    (74, 'pg_export_snapshot',
         'exports a snapshot other sessions can import'),
    (75, 'pg_prepared_xact',
         'lists every session''s prepared transactions'),
    (76, 'pg_get_shmem_allocations|pg_get_backend_memory_contexts|pg_log_backend_memory_contexts',
         'reads the server''s memory state'),
    -- Administration: effects on the server or other sessions.
    (80, 'pg_cancel_backend|pg_terminate_backend',
         'cancels or ends another session'),
    (81, 'pg_stat_reset.*',
         'resets statistics shared by every session'),
    (82, 'pg_reload_conf|pg_rotate_logfile.*|pg_promote|pg_create_restore_point|pg_backup_.*',
         'an administrative action on the server'),
    (83, 'brin_summarize_.*|brin_desummarize_range|gin_clean_pending_list',
         'maintains an index of a table named by an argument: reads its rows and writes the index'),
    (84, 'pg_import_system_collations|pg_extension_config_dump|pg_nextoid|pg_stop_making_pinned_objects',
         'changes the catalog or the OID counter; meant for initdb, extensions and pg_dump'),
    (85, 'binary_upgrade_.*',
         'pg_upgrade''s internal function'),
    (86, 'fmgr_.*_validator',
         'a language validator, run by CREATE FUNCTION: loads a shared library or parses a function''s body');

-- One row per built-in function name; `reason` is NULL for the accepted ones.
-- A name none of whose overloads can be called from SQL (each takes an
-- `internal` argument or returns a trigger, handler or `internal`; these are
-- planner, index, aggregate and trigger support) is refused too: nothing
-- legitimate calls it, and some (the selectivity estimators) read statistics.
CREATE TEMP VIEW catalog_functions (name, reason) AS
WITH builtin AS (
    SELECT p.proname::text COLLATE "C" AS name,
           bool_and(
               'pg_catalog.internal'::regtype::oid = ANY (p.proargtypes::oid[])
               OR p.prorettype = ANY (ARRAY[
                   'pg_catalog.internal', 'pg_catalog.trigger', 'pg_catalog.event_trigger',
                   'pg_catalog.language_handler', 'pg_catalog.fdw_handler',
                   'pg_catalog.index_am_handler', 'pg_catalog.table_am_handler',
                   'pg_catalog.tsm_handler'
               ]::regtype[]::oid[])
           ) AS uncallable
    FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'pg_catalog'::regnamespace
      AND p.oid < 16384
      AND NOT EXISTS (
          SELECT FROM pg_catalog.pg_depend d
          WHERE d.classid = 'pg_catalog.pg_proc'::regclass
            AND d.objid = p.oid
            AND d.deptype = 'e')
    GROUP BY 1
)
SELECT b.name,
       coalesce(
           (SELECT x.reason
            FROM catalog_function_exclusions x
            WHERE b.name ~ ('^(?:' || x.pattern || ')$')
            ORDER BY x.ord
            LIMIT 1),
           CASE WHEN b.uncallable THEN
               'not callable from SQL: takes or returns internal, a trigger or a handler (planner, index, aggregate, trigger or type support)'
           END)
FROM builtin b;

-- ---------------------------------------------------------------------------
-- (b) System relations
-- ---------------------------------------------------------------------------

-- The relations of pg_catalog and information_schema that are refused: they
-- hold data or statistics of user tables, other sessions' activity, the
-- server's files or credentials. Every other one is global (schema metadata,
-- the same for every tenant). A pattern matches the WHOLE relation name.
CREATE TEMP VIEW catalog_relation_exclusions (ord, schema, pattern, reason) AS VALUES
    (10, 'pg_catalog', 'pg_statistic|pg_statistic_ext_data|pg_stats|pg_stats_ext.*',
         'statistics sampled from every tenant''s rows (most common values, histograms)'),
    (11, 'pg_catalog', 'pg_stat_.*|pg_statio_.*',
         'cumulative statistics: row counts of every tenant, other sessions'' activity and connections'),
    (12, 'pg_catalog', 'pg_class',
         'per-relation statistics (reltuples, relpages, relallvisible), partitions included'),
    (13, 'pg_catalog', 'pg_sequences',
         'sequences'' current values, which count every tenant''s rows'),
    (20, 'pg_catalog', 'pg_largeobject.*',
         'large objects and their owners, shared by all tenants'),
    (30, 'pg_catalog', 'pg_locks',
         'other sessions'' locks'),
    (31, 'pg_catalog', 'pg_prepared_xacts',
         'every session''s prepared transactions'),
    (32, 'pg_catalog', 'pg_backend_memory_contexts|pg_shmem_allocations',
         'the server''s memory state'),
    (40, 'pg_catalog', 'pg_replication_.*|pg_subscription_rel',
         'replication state: slots, origins and positions in every tenant''s changes'),
    (41, 'pg_catalog', 'pg_subscription',
         'subscriptions'' connection strings, which hold credentials'),
    (50, 'pg_catalog', 'pg_hba_file_rules|pg_ident_file_mappings|pg_file_settings',
         'reads the server''s configuration files'),
    (60, 'pg_catalog', 'pg_authid|pg_shadow',
         'password hashes'),
    (61, 'pg_catalog', 'pg_user_mappings?',
         'user mappings'' options, which hold foreign servers'' credentials'),
    (62, 'information_schema', '_pg_user_mappings|user_mapping_options',
         'user mappings'' options, which hold foreign servers'' credentials');

-- One row per relation (table, view, materialized view, partitioned or
-- foreign table) of pg_catalog and information_schema created by initdb;
-- `reason` is NULL for the global ones.
CREATE TEMP VIEW catalog_relations (schema, name, reason) AS
SELECT n.nspname::text COLLATE "C",
       c.relname::text COLLATE "C",
       (SELECT x.reason
        FROM catalog_relation_exclusions x
        WHERE x.schema = n.nspname
          AND c.relname ~ ('^(?:' || x.pattern || ')$')
        ORDER BY x.ord
        LIMIT 1)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('pg_catalog', 'information_schema')
  AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND c.oid < 16384;

-- ---------------------------------------------------------------------------
-- (c) Operators
-- ---------------------------------------------------------------------------

-- One row per built-in operator symbol; `refused` names the implementing
-- functions (of any of the symbol's operators) that catalog_functions
-- refuses, NULL when there are none and the symbol is accepted.
CREATE TEMP VIEW catalog_operators (symbol, refused) AS
SELECT o.oprname::text COLLATE "C",
       string_agg(DISTINCT f.name, ', ' ORDER BY f.name)
           FILTER (WHERE f.name IS NULL OR f.reason IS NOT NULL)
FROM pg_catalog.pg_operator o
JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode
LEFT JOIN catalog_functions f
       ON f.name = p.proname::text
      AND p.pronamespace = 'pg_catalog'::regnamespace
WHERE o.oprnamespace = 'pg_catalog'::regnamespace
  AND o.oid < 16384
GROUP BY 1;

-- A pattern that matches nothing is stale (renamed or removed in this
-- version): say so on stderr, without failing.
DO $$
DECLARE
    stale text;
BEGIN
    FOR stale IN
        SELECT x.pattern FROM catalog_function_exclusions x
        WHERE NOT EXISTS (
            SELECT FROM catalog_functions f WHERE f.name ~ ('^(?:' || x.pattern || ')$'))
        UNION ALL
        SELECT x.schema || '.' || x.pattern FROM catalog_relation_exclusions x
        WHERE NOT EXISTS (
            SELECT FROM catalog_relations r
            WHERE r.schema = x.schema AND r.name ~ ('^(?:' || x.pattern || ')$'))
    LOOP
        RAISE WARNING 'catalog.sql: the exclusion pattern % matches nothing', stale;
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- Rendering: the whole of catalog_list.rs, as one value.
-- ---------------------------------------------------------------------------

CREATE FUNCTION pg_temp.rust_str(s text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
RETURN '"' || replace(replace(s, '\', '\\'), '"', '\"') || '"';

SELECT concat_ws(E'\n',
    '// @generated by tenant-core/tools/gen_catalog.sh from PostgreSQL '
        || current_setting('server_version') || '; do not edit',
    '//! PostgreSQL''s built-in functions, system relations and operators, as the',
    '//! tenancy analyzer classifies them; read through `super::catalog`. The',
    '//! classification and its reasons are in tenant-core/tools/catalog.sql.',
    '',
    '/// Built-in functions (pg_catalog, by name) the analyzer accepts: they run no',
    '/// SQL, read no relation, file, WAL, large object, sequence or statistics, and',
    '/// have no effect other tenants can see. Sorted (byte order) for binary search.',
    '#[rustfmt::skip]',
    'pub(crate) const BUILTIN_FUNCTIONS: &[&str] = &[',
    (SELECT string_agg('    ' || pg_temp.rust_str(name) || ',', E'\n' ORDER BY name)
     FROM catalog_functions WHERE reason IS NULL),
    '];',
    '',
    '/// Built-in functions the analyzer refuses, with the reason. Sorted by name',
    '/// (byte order) for binary search.',
    '#[rustfmt::skip]',
    'pub(crate) const EXCLUDED_FUNCTIONS: &[(&str, &str)] = &[',
    (SELECT string_agg('    (' || pg_temp.rust_str(name) || ', ' || pg_temp.rust_str(reason) || '),',
                       E'\n' ORDER BY name)
     FROM catalog_functions WHERE reason IS NOT NULL),
    '];',
    '',
    '/// The relations of pg_catalog and information_schema: (schema, name, None)',
    '/// for a global one, (schema, name, Some(reason)) for a refused one. Sorted',
    '/// by (schema, name), byte order, for binary search.',
    '#[rustfmt::skip]',
    'pub(crate) const SYSTEM_RELATIONS: &[(&str, &str, Option<&str>)] = &[',
    (SELECT string_agg('    (' || pg_temp.rust_str(schema) || ', ' || pg_temp.rust_str(name) || ', '
                       || coalesce('Some(' || pg_temp.rust_str(reason) || ')', 'None') || '),',
                       E'\n' ORDER BY schema, name)
     FROM catalog_relations),
    '];',
    '',
    '/// Built-in operator symbols all of whose operators are implemented by',
    '/// functions in BUILTIN_FUNCTIONS. Sorted (byte order) for binary search.',
    '#[rustfmt::skip]',
    'pub(crate) const BUILTIN_OPERATORS: &[&str] = &[',
    (SELECT string_agg('    ' || pg_temp.rust_str(symbol) || ',', E'\n' ORDER BY symbol)
     FROM catalog_operators WHERE refused IS NULL),
    '];',
    '',
    '/// Built-in operator symbols some operator of which is implemented by a',
    '/// refused function, with those functions. Sorted by symbol (byte order).',
    '#[rustfmt::skip]',
    'pub(crate) const EXCLUDED_OPERATORS: &[(&str, &str)] = &[',
    (SELECT string_agg('    (' || pg_temp.rust_str(symbol) || ', '
                       || pg_temp.rust_str('implemented by ' || refused) || '),',
                       E'\n' ORDER BY symbol)
     FROM catalog_operators WHERE refused IS NOT NULL),
    '];'
);
