-- The schema the analyzer corpus (leaks.sql, safe.sql) is written against.
-- validate.sh loads it into a scratch database and prepares every corpus
-- statement against it, so the corpus stays real, executable SQL.
--
-- Global tables (tenancy.toml `global_tables`): plans, countries, currencies.
-- tenants: its tenant column is `id`; audit_log: its tenant column is `org_id`.
-- Every other table holds the rows of many tenants, told apart by tenant_id.

CREATE EXTENSION IF NOT EXISTS citext;

-- A nondeterministic collation: `=` under it matches strings that differ in case.
CREATE COLLATION case_insensitive (provider = icu, locale = 'und-u-ks-level2', deterministic = false);

-- Global reference data ---------------------------------------------------

CREATE TABLE plans (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    price_cents integer NOT NULL,
    max_forms   integer NOT NULL
);

CREATE TABLE countries (
    code text PRIMARY KEY CHECK (length(code) = 2),
    name text NOT NULL
);

CREATE TABLE currencies (
    code        text PRIMARY KEY CHECK (length(code) = 3),
    name        text NOT NULL,
    minor_units smallint NOT NULL
);

-- Tenants: the tenant column is the primary key ---------------------------

CREATE TABLE tenants (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    plan_id      text NOT NULL REFERENCES plans (id),
    country_code text REFERENCES countries (code),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Tenant data --------------------------------------------------------------

CREATE TABLE users (
    tenant_id  text NOT NULL REFERENCES tenants (id),
    id         bigint NOT NULL,
    -- Logins are global: one e-mail address, one user, whatever the tenant.
    email      text NOT NULL UNIQUE,
    name       text NOT NULL,
    role       text NOT NULL DEFAULT 'member',
    manager_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, manager_id) REFERENCES users (tenant_id, id)
);

CREATE TABLE customers (
    tenant_id          text NOT NULL REFERENCES tenants (id),
    id                 bigint NOT NULL,
    name               text NOT NULL,
    email              text,
    country_code       text REFERENCES countries (code),
    -- Payment-provider ids are unique across the whole provider, not per tenant.
    stripe_customer_id text UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE products (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    id          bigint NOT NULL,
    sku         text NOT NULL,
    name        text NOT NULL,
    price_cents integer NOT NULL,
    currency    text NOT NULL REFERENCES currencies (code),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, sku)
);

CREATE TABLE orders (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    id          bigint NOT NULL,
    customer_id bigint NOT NULL,
    status      text NOT NULL DEFAULT 'open',
    total_cents bigint NOT NULL DEFAULT 0,
    currency    text NOT NULL REFERENCES currencies (code),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);

CREATE TABLE order_items (
    tenant_id        text NOT NULL REFERENCES tenants (id),
    order_id         bigint NOT NULL,
    line_no          integer NOT NULL,
    product_id       bigint NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_cents integer NOT NULL,
    PRIMARY KEY (tenant_id, order_id, line_no),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
);

CREATE TABLE invoices (
    tenant_id    text NOT NULL REFERENCES tenants (id),
    id           bigint NOT NULL,
    order_id     bigint NOT NULL,
    number       text NOT NULL,
    amount_cents bigint NOT NULL,
    status       text NOT NULL DEFAULT 'draft',
    issued_at    timestamptz,
    paid_at      timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, number),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id)
);

CREATE TABLE forms (
    tenant_id  text NOT NULL REFERENCES tenants (id),
    id         bigint NOT NULL,
    owner_id   bigint NOT NULL,
    name       text NOT NULL,
    archived   boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id)
);

CREATE TABLE form_submissions (
    tenant_id    text NOT NULL REFERENCES tenants (id),
    id           bigint NOT NULL,
    form_id      bigint NOT NULL,
    submitted_by bigint,
    data         jsonb NOT NULL DEFAULT '{}',
    score        integer,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, form_id) REFERENCES forms (tenant_id, id),
    FOREIGN KEY (tenant_id, submitted_by) REFERENCES users (tenant_id, id)
);

CREATE TABLE follow_ups (
    tenant_id     text NOT NULL REFERENCES tenants (id),
    id            bigint NOT NULL,
    submission_id bigint NOT NULL,
    assignee_id   bigint,
    note          text,
    due_at        timestamptz,
    done          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, submission_id) REFERENCES form_submissions (tenant_id, id),
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES users (tenant_id, id)
);

-- A tree, for recursive queries.
CREATE TABLE categories (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id        bigint NOT NULL,
    parent_id bigint,
    name      text NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES categories (tenant_id, id)
);

-- Staging rows of a CSV import, merged into forms.
CREATE TABLE form_imports (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id        bigint NOT NULL,
    owner_id  bigint NOT NULL,
    name      text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- An older table whose tenant column is called org_id (tenancy.toml override).
CREATE TABLE audit_log (
    org_id     text NOT NULL REFERENCES tenants (id),
    id         bigint GENERATED ALWAYS AS IDENTITY,
    actor_id   bigint,
    action     text NOT NULL,
    detail     jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);

-- A legacy table created with a quoted, mixed-case name: "Forms" is not forms.
CREATE TABLE "Forms" (
    tenant_id text NOT NULL,
    id        bigint NOT NULL,
    name      text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Another schema: archive.plans is NOT the global public.plans.
CREATE SCHEMA archive;

CREATE TABLE archive.plans (
    tenant_id   text NOT NULL,
    id          text NOT NULL,
    name        text NOT NULL,
    price_cents integer NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE archive.forms (LIKE forms INCLUDING ALL);

-- A procedure an attacker could CALL (its body is not analysed).
CREATE PROCEDURE archive_stale_forms(cutoff timestamptz)
LANGUAGE sql
AS $$ UPDATE forms SET archived = true WHERE created_at < cutoff $$;

-- A user-defined `=` outside pg_catalog: it can mean anything (here: always true).
-- Unqualified `=` still resolves to pg_catalog's, which is searched first.
CREATE FUNCTION public.anything_goes(text, text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;

CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.anything_goes);

-- Schema layout: a tenant's own schema, and an offboarded tenant's kept one
-- (named as tenant_core::layout names them). Tenant queries may never name
-- them (rule tenant-schema-reference).
CREATE SCHEMA tenant_t7_k3x9q2;
CREATE TABLE tenant_t7_k3x9q2.forms (LIKE forms INCLUDING ALL);
CREATE SEQUENCE tenant_t7_k3x9q2.forms_id_seq;
CREATE TYPE tenant_t7_k3x9q2.mood AS ENUM ('happy', 'sad');
CREATE FUNCTION tenant_t7_k3x9q2.form_count() RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT count(*) FROM tenant_t7_k3x9q2.forms $$;
CREATE SCHEMA tenant_t9_q8w7e6_archive;
CREATE TABLE tenant_t9_q8w7e6_archive.forms (LIKE forms INCLUDING ALL);
