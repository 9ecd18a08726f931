"""Runs the variants of a scenario alternately, `runs` times each, and keeps every sample."""

import statistics
import time


def run_alternating(scenario, runs, log, errors):
    """{variant name: {kind: [Sample, ...]}}; run r starts with variant r (mod n) so that no tool
    always goes first after a scenario's set-up. A failed run is logged, added to `errors` and
    left out; the other runs go on."""
    samples = {variant.name: {} for variant in scenario.variants}
    count = len(scenario.variants)
    for run in range(runs):
        order = scenario.variants[run % count:] + scenario.variants[:run % count]
        for variant in order:
            started = time.monotonic()
            try:
                outcome = variant.run_once()
            except Exception as exc:  # a broken tool must not lose the other tools' figures
                message = "%s run %d/%d %s failed: %s" % (scenario.key, run + 1, runs, variant.name, exc)
                errors.append(message[:4000])
                log("  " + message[:1500])
                continue
            for kind, sample in outcome.items():
                samples[variant.name].setdefault(kind, []).append(sample)
            log("  %s run %d/%d %-26s %s (%.0f s with set-up)" % (
                scenario.key, run + 1, runs, variant.name,
                ", ".join("%s %.2f s" % (kind, kinds[-1].seconds) for kind, kinds in samples[variant.name].items()),
                time.monotonic() - started))
    return samples


def median_seconds(samples):
    return statistics.median(sample.seconds for sample in samples)


def median_sample_of(samples):
    """The sample whose time is the median (the lower middle one for an even count)."""
    ordered = sorted(samples, key=lambda sample: sample.seconds)
    return ordered[(len(ordered) - 1) // 2]
