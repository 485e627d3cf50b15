SELECT create_reference_table(c.oid::regclass) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = 'O''Brien' AND c.relkind IN ('r', 'p') AND NOT EXISTS (SELECT 1 FROM pg_dist_partition d WHERE d.logicalrelid = c.oid);
SELECT create_reference_table(c.oid::regclass) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = 'plans' AND c.relkind IN ('r', 'p') AND NOT EXISTS (SELECT 1 FROM pg_dist_partition d WHERE d.logicalrelid = c.oid);
SELECT create_reference_table(c.oid::regclass) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'ref' AND c.relname = 'countries' AND c.relkind IN ('r', 'p') AND NOT EXISTS (SELECT 1 FROM pg_dist_partition d WHERE d.logicalrelid = c.oid);
SELECT create_distributed_table(c.oid::regclass, 'tenant_id', colocate_with => 'default') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = 'forms' AND NOT EXISTS (SELECT 1 FROM pg_dist_partition d WHERE d.logicalrelid = c.oid);
SELECT create_distributed_table(c.oid::regclass, 'tenantId', colocate_with => 'public.forms') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = 'Submissions' AND NOT EXISTS (SELECT 1 FROM pg_dist_partition d WHERE d.logicalrelid = c.oid);
-- isolate
SELECT isolate_tenant_to_new_shard(($1::text)::regclass, $2::text, 'CASCADE', shard_transfer_mode => ($3::text)::citus.shard_transfer_mode);
-- placement
SELECT p.shardid, p.nodename::text, p.nodeport::int4 FROM pg_dist_shard_placement p WHERE p.shardid = get_shard_id_for_distribution_column(($1::text)::regclass, $2::text) ORDER BY p.placementid LIMIT 1;
-- move
SELECT citus_move_shard_placement($1::int8, $2::text, $3::int4, $4::text, $5::int4, shard_transfer_mode => ($6::text)::citus.shard_transfer_mode);
