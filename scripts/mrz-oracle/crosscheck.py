#!/usr/bin/env python3
"""Cross-check the Rust test oracle (common/tests/oracle/) against PyPI `mrz` (pinned).

Input: the file written by the differential test with MRZ_ORACLE_DUMP=<file>; one line per case,
`line1 TAB line2 TAB bits`, where bits are the Rust oracle's five check-digit verdicts (document
number, birth date, expiry date, personal number, composite) as 0/1.

For every case this recomputes the same five verdicts with `mrz.checker.td3.TD3CodeChecker`
and reports each disagreement. Only the check digits are compared: `mrz` also judges country
codes against its own list and other formats, which the worker deliberately does not.

Usage (from the repository root):
    python3 -m venv /tmp/mrz-venv && /tmp/mrz-venv/bin/pip install -r scripts/mrz-oracle/requirements.txt
    MRZ_ORACLE_DUMP=/tmp/mrz-cases.tsv MRZ_SOAK_CASES=20000 \\
        cargo test -p ocr-common --release --test mrz_differential -- --nocapture
    /tmp/mrz-venv/bin/python scripts/mrz-oracle/crosscheck.py /tmp/mrz-cases.tsv
Exit status 1 when any case disagrees.
"""

import sys

from mrz.checker.td3 import TD3CodeChecker


def mrz_verdicts(line1: str, line2: str) -> str:
    c = TD3CodeChecker(f"{line1}\n{line2}", check_expiry=False, compute_warnings=False)
    hashes = [
        c.document_number_hash,
        c.birth_date_hash,
        c.expiry_date_hash,
        c.optional_data_hash,
        c.final_hash,
    ]
    return "".join("1" if bool(h) else "0" for h in hashes)


def main(path: str) -> int:
    cases = disagree = 0
    with open(path, encoding="ascii") as f:
        for row in f:
            line1, line2, bits = row.rstrip("\n").split("\t")
            cases += 1
            theirs = mrz_verdicts(line1, line2)
            if theirs != bits:
                disagree += 1
                if disagree <= 20:
                    print(f"disagree: {line2} rust={bits} mrz={theirs}")
    print(f"{cases} cases, {disagree} disagreements")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
