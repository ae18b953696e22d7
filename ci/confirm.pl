#!/usr/bin/perl
# ci/confirm.pl — confirms the timing regressions of one comparison with a second
# one: a row is a real timing regression only when it is a regression in both.
#
#   perl ci/confirm.pl FIRST.json SECOND.json
#
# Both are `claimbench compare --json` outputs against the same baseline, the
# second from the suite timed once more. On a shared host one case can run
# 2-3x slower in one process with all its repetitions alike (so the bootstrap
# interval is tight and the Mann-Whitney p small): the threshold cannot tell
# that from a regression, a second timing in a fresh process can. A real
# regression is slower every time. Numerical regressions, verdict flips and
# failed cases do not depend on timing and count from the first comparison.
#
# Prints one line per timing regression of the first comparison, confirmed or
# not, and exits 1 when a real regression remains, else 0 (2 on bad input).
use strict;
use warnings;
use JSON::PP;

@ARGV == 2 or do { print STDERR "usage: perl ci/confirm.pl FIRST.json SECOND.json\n"; exit 2 };
my @d = map {
    my $p = $_;
    open my $f, '<', $p or do { print STDERR "confirm: $p: $!\n"; exit 2 };
    local $/;
    my $j = eval { decode_json(<$f>) };
    $j && ref $j->{timings} eq 'ARRAY' && ref $j->{summary} eq 'HASH'
        or do { print STDERR "confirm: $p: not a claimbench compare --json output\n"; exit 2 };
    $j
} @ARGV;

sub key { my $t = shift; join '/', map { $_ // '' } @$t{qw(task kernel backend metric params)} }
my %second = map { key($_) => $_ } @{ $d[1]{timings} };

my $confirmed = 0;
for my $t (grep { $_->{class} eq 'regression' } @{ $d[0]{timings} }) {
    my $k = key($t);
    my $s = $second{$k};
    my $again = $s && $s->{class} eq 'regression';
    $confirmed++ if $again;
    printf "confirm: %s %s: x%.3g, then %s\n", $again ? 'REGRESSION' : 'not confirmed', $k,
        $t->{ratio}, $s ? sprintf('x%.3g (%s)', $s->{ratio}, $s->{class}) : 'not timed';
}
my $s = $d[0]{summary};
my $other = ($s->{numerical_regressions} // 0) + ($s->{verdict_flips} // 0) + ($s->{failed_cases} // 0);
printf "confirm: %d timing regression(s) confirmed of %d; %d numerical regression(s), verdict flip(s) or failed case(s)\n",
    $confirmed, scalar(grep { $_->{class} eq 'regression' } @{ $d[0]{timings} }), $other;
exit($confirmed || $other ? 1 : 0);
