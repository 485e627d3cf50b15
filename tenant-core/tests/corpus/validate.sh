#!/usr/bin/env bash
# Checks that every statement of the analyzer corpus (leaks.sql, safe.sql) is
# real SQL for schema.sql, against a real PostgreSQL server.
#
# It creates a scratch database, loads schema.sql, then for each case:
#   * SELECT/WITH/INSERT/UPDATE/DELETE/MERGE/VALUES/TABLE: PREPAREs it, with
#     `$tenant` rewritten to the next free `$n` (as the analyzer does), so
#     PostgreSQL resolves every table, column, operator and parameter type;
#   * anything else, or a case marked `-- pg: exec`: runs it with `$tenant`
#     replaced by a text literal and `$n` by '1', inside BEGIN .. ROLLBACK;
#   * a case marked `-- pg: skip <why>` is not run (PostgreSQL 15 cannot).
# The scratch database is dropped at the end, whatever happens.
#
# Usage: tenant-core/tests/corpus/validate.sh
# Connection: the usual libpq variables; defaults PGHOST=127.0.0.1,
# PGPORT=5432, PGUSER=postgres. The role must be allowed to create databases.
set -euo pipefail

corpus_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PGHOST=${PGHOST:-127.0.0.1}
export PGPORT=${PGPORT:-5432}
export PGUSER=${PGUSER:-postgres}
admin_db=${PGDATABASE:-postgres}
unset PGDATABASE

scratch_db="tenant_corpus_$$_$(date +%s)"

drop_scratch() {
    psql -X -q -d "$admin_db" -c "DROP DATABASE IF EXISTS \"$scratch_db\" WITH (FORCE)" >/dev/null
}
trap drop_scratch EXIT

psql -X -q -v ON_ERROR_STOP=1 -d "$admin_db" -c "CREATE DATABASE \"$scratch_db\"" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$scratch_db" -f "$corpus_dir/schema.sql" >/dev/null

perl - "$scratch_db" "$corpus_dir/leaks.sql" "$corpus_dir/safe.sql" <<'PERL'
use strict;
use warnings;
use File::Temp qw(tempfile);

my ($db, @files) = @ARGV;
my %known = map { $_ => 1 } qw(reason rule mode config pg);
my ($prepared, $executed, $skipped, @failures) = (0, 0, 0);

# Splits a corpus file into cases the same way tests/corpus.rs does: a
# `-- reason:` line starts a case, directives follow, then SQL lines up to a
# blank line (or the next `-- reason:`).
sub cases_of {
    my ($file) = @_;
    open(my $fh, '<', $file) or die "cannot read $file: $!\n";
    my (@cases, $case);
    my $line_no = 0;
    while (my $line = <$fh>) {
        $line_no++;
        chomp $line;
        $line =~ s/\r$//;
        if ($line =~ /^--\s*reason:/) {
            push @cases, $case if $case;
            $case = { file => $file, line => $line_no, sql => '', directives => {} };
            next;
        }
        if ($line =~ /^\s*$/) {
            push @cases, $case if $case;
            undef $case;
            next;
        }
        next unless $case;    # commentary between cases
        if ($case->{sql} eq '' && $line =~ /^--\s*([a-z_]+):\s*(.*)$/ && $known{$1}) {
            $case->{directives}{$1} = $2;
            next;
        }
        $case->{sql} .= "$line\n";
    }
    push @cases, $case if $case;
    return @cases;
}

sub run_psql {
    my ($script) = @_;
    my ($fh, $path) = tempfile('corpus_case_XXXXXX', TMPDIR => 1, UNLINK => 1);
    print $fh $script;
    close $fh;
    my $output = qx(psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$path" 2>&1 >/dev/null);
    return ($? == 0, $output);
}

for my $file (@files) {
    for my $case (cases_of($file)) {
        my $sql = $case->{sql};
        my $where = "$case->{file}:$case->{line}";
        my $pg = $case->{directives}{pg} // '';
        if ($pg =~ /^skip\b\s*(.*)/) {
            push @failures, "$where: `-- pg: skip` needs a reason\n" if $1 eq '';
            $skipped++;
            next;
        }
        (my $head = $sql) =~ s{^(\s|--[^\n]*\n|/\*.*?\*/|\()*}{}s;
        my ($keyword) = $head =~ /^([A-Za-z]+)/;
        my $preparable = defined $keyword
            && $keyword =~ /^(select|with|insert|update|delete|merge|values|table)$/i;
        my $script;
        if ($pg eq 'exec' || !$preparable) {
            (my $literal = $sql) =~ s/\$tenant(?![A-Za-z0-9_])/'tenant-a'/g;
            $literal =~ s/\$\d+/'1'/g;
            $script = "BEGIN;\n$literal\nROLLBACK;\n";
            $executed++;
        } else {
            my $max = 0;
            while ($sql =~ /\$(\d+)/g) { $max = $1 if $1 > $max; }
            my $tenant = '$' . ($max + 1);
            (my $rewritten = $sql) =~ s/\$tenant(?![A-Za-z0-9_])/$tenant/g;
            $script = "BEGIN;\nPREPARE corpus_case AS\n$rewritten\nROLLBACK;\n";
            $prepared++;
        }
        my ($ok, $output) = run_psql($script);
        push @failures, "$where\n$sql$output\n" unless $ok;
    }
}

print "corpus validation: $prepared prepared, $executed executed, $skipped skipped, "
    . scalar(@failures) . " failed\n";
print STDERR "\nFAILED: $_" for @failures;
exit(@failures ? 1 : 0);
PERL
