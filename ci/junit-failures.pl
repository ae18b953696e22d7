#!/usr/bin/perl
# ci/junit-failures.pl — the failing tests of a JUnit XML written by
# TAP::Formatter::JUnit, as plain lines for a CI log (which keeps only what is
# printed): each failing test file, its "not ok" lines with their diagnostics,
# why a file died or planned wrong, and the end of its stderr.
#
#   perl ci/junit-failures.pl build/junit.xml
use strict;
use warnings;

my $xml = do { local $/; <> };
defined $xml or die "junit-failures: no input\n";
my %ent = (lt => '<', gt => '>', amp => '&', quot => '"', apos => "'");
sub unxml { my $s = shift; $s =~ s/&(lt|gt|amp|quot|apos);/$ent{$1}/g; $s =~ s/&#(\d+);/chr($1)/ge; $s }
sub cdata { my $s = shift // ''; $s =~ s/^<!\[CDATA\[//; $s =~ s/\]\]>$//; $s }
sub out { my ($pre, $text) = @_; print "junit:     $_\n" for grep { length } split /\n/, $text }

my $bad = 0;
while ($xml =~ /<testsuite\b([^>]*)>(.*?)<\/testsuite>/sg) {
    my ($attrs, $body) = ($1, $2);
    my ($name) = $attrs =~ /\bname="([^"]*)"/;
    my @fail;
    while ($body =~ /<failure\b[^>]*?(?:\/>|>(.*?)<\/failure>)/sg) { push @fail, cdata($1) }
    my @err = map { unxml($_) } $body =~ /<error\b[^>]*\bmessage="([^"]*)"/g;
    next unless @fail || @err;
    $bad++;
    print "junit: FAIL $name\n";
    out('', $_) for @fail;
    print "junit:     $_\n" for @err;
    if (@err && $body =~ /<system-err>(.*?)<\/system-err>/s) {
        my @lines = grep { length } split /\n/, cdata($1);
        splice @lines, 0, @lines - 20 if @lines > 20;
        print "junit:     stderr: $_\n" for @lines;
    }
}
print "junit: $bad test file(s) failed\n" if $bad;
exit 0;
