# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verdict of a DICOM access control: did the archive refuse an association it must refuse?

A refusal is judged from what the archive says and does, not from how the socket closed:

1. an A-ASSOCIATE-RJ received -> refused;
2. the association aborted or closed after the request, and the archive's own log shows its
   rejection of that calling AE title from that address -> refused;
3. at least ``min_attempts`` requests the archive closed, none established, and none of the probes'
   studies found in the archive afterwards -> refused;
4. an association the archive accepted (established, or an image stored) -> not refused (fail),
   except a C-STORE answered with a Failure status and nothing stored (the request refused);
5. anything else (connection refused, TLS refused, timeout, no rejection evidence) -> inconclusive
   (error), with the reason.

Everything here is pure: the tasks gather the dicom_store results, the archive's log and the
C-FIND lookups, and these functions judge them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from collections.abc import Mapping

MIN_ATTEMPTS = 3

# What an archive writes when its AE title filter refuses an association (Orthanc, DCMTK based).
REJECTION_PATTERNS = (
    re.compile(r'Rejected association for remote AET (?P<aet>\S+) on IP (?P<ip>[0-9A-Fa-f:.]+)'),
)

EXPECTED = {
    'association': 'rejected: A-ASSOCIATE-RJ, or closed with the rejection in the archive log, or closed '
                   'on %d attempts with nothing stored' % MIN_ATTEMPTS,
    'stored': 0,
}


def _normal_ip(text):
    try:
        address = ipaddress.ip_address(str(text).strip().strip('[]'))
    except ValueError:
        return str(text).strip()
    mapped = getattr(address, 'ipv4_mapped', None)
    return str(mapped or address)


def _int(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def outcome_of(association):
    """The association outcome of a dicom_* result (also for evidence without the outcome key)."""
    association = association or {}
    outcome = association.get('outcome')
    if outcome:
        return outcome
    result = str(association.get('result') or 'not-attempted')
    if association.get('established') or result == 'accepted':
        return 'established'
    if result.startswith('rejected'):
        return 'rejected'
    return result


def classify_attempt(attempt):
    """One dicom_store result -> dict(kind, ...). kind is one of:

    stored, accepted, store-refused, rejected, closed (the archive closed or aborted after the
    request), no-contact (connection failed, TLS refused, timeout), error (the module did not run).
    """
    if not isinstance(attempt, dict) or attempt.get('skipped'):
        return dict(kind='error', detail='the attempt did not run', address=None, study=None)
    association = attempt.get('association')
    if not isinstance(association, dict):
        return dict(kind='error', detail=str(attempt.get('msg') or 'the module returned no association evidence'),
                    address=None, study=None)
    stored = _int(attempt.get('stored')) + _int(attempt.get('stored_with_warning'))
    outcome = outcome_of(association)
    status = attempt.get('status') or {}
    info = dict(outcome=outcome, result=association.get('result'), reason=association.get('reason'),
                address=association.get('local_address'), study=attempt.get('study_instance_uid'),
                stored=stored, detail=attempt.get('msg') or association.get('error') or '')
    if stored > 0:
        kind = 'stored'
    elif outcome == 'established':
        refused = (status.get('category') == 'Failure' and not attempt.get('operation_error'))
        kind = 'store-refused' if refused else 'accepted'
    elif outcome == 'no-accepted-context':
        kind = 'accepted'  # the archive sent A-ASSOCIATE-AC: its AE title filter let the caller in
    elif outcome == 'rejected':
        kind = 'rejected'
    elif outcome == 'aborted' and association.get('request_sent', True) is not False:
        kind = 'closed'
    else:
        kind = 'no-contact'
    info['kind'] = kind
    return info


def log_rejections(text, calling_aet):
    """The archive log lines that reject ``calling_aet``: list of dict(line, aet, ip)."""
    found = []
    wanted = (calling_aet or '').strip()
    for line in (text or '').splitlines():
        for pattern in REJECTION_PATTERNS:
            match = pattern.search(line)
            if match and match.group('aet').strip() == wanted:
                found.append(dict(line=line.strip(), aet=match.group('aet'), ip=_normal_ip(match.group('ip'))))
                break
    return found


def _explained(attempt, rejections):
    """Whether a rejection in the log is for this attempt's source address (any, when it is unknown)."""
    if not attempt.get('address'):
        return bool(rejections)
    return any(r['ip'] == _normal_ip(attempt['address']) for r in rejections)


def judge_refusal(attempts, calling_aet=None, journal=None, lookups=None, min_attempts=MIN_ATTEMPTS):
    """Judge whether the archive refused the attempts of ``calling_aet``.

    attempts: dicom_store results. journal: the archive's log text since the first attempt began,
    or None when it could not be read. lookups: study_instance_uid -> number of matches a C-FIND
    found afterwards (None when the lookup failed). Returns dict(status, basis, message, actual,
    evidence) with status pass, fail or error.
    """
    attempts = list(attempts or [])
    lookups = dict(lookups or {})
    classified = [classify_attempt(a) for a in attempts]
    if calling_aet is None:
        for attempt in attempts:
            if isinstance(attempt, dict) and isinstance(attempt.get('association'), dict):
                calling_aet = attempt['association'].get('calling_aet')
                break
    rejections = log_rejections(journal, calling_aet)
    kinds = [c['kind'] for c in classified]
    count = dict((k, kinds.count(k)) for k in set(kinds))
    stored = sum(c.get('stored', 0) for c in classified)
    closed = [c for c in classified if c['kind'] == 'closed']
    explained = [c for c in closed if _explained(c, rejections)]
    studies = [c['study'] for c in classified if c['kind'] in ('closed', 'rejected', 'store-refused') and c['study']]
    absent = bool(studies) and all(lookups.get(uid) == 0 for uid in studies)
    decisive = next((c for c in classified if c['kind'] in ('stored', 'accepted')), None) \
        or next((c for c in classified if c['kind'] == 'rejected'), None) \
        or next((c for c in classified if c['kind'] == 'store-refused'), None) \
        or (explained[0] if explained else None) \
        or (closed[0] if closed else None) \
        or (classified[0] if classified else None)
    who = 'calling AE %s' % (calling_aet or '?')

    if not classified:
        status, basis, message = 'error', 'not-run', 'no association was attempted'
    elif count.get('stored'):
        status, basis = 'fail', 'accepted'
        message = 'the archive accepted the association from %s and stored %d image(s)' % (who, stored)
    elif count.get('accepted'):
        status, basis = 'fail', 'accepted'
        message = 'the archive accepted the association from %s (%s)' % (who, decisive['detail'])
    elif count.get('rejected'):
        status, basis = 'pass', 'A-ASSOCIATE-RJ'
        message = 'the archive rejected %s with A-ASSOCIATE-RJ (%s, %s) on %d of %d attempt(s)' % (
            who, decisive['result'], decisive['reason'], count['rejected'], len(classified))
    elif count.get('store-refused'):
        status, basis = 'pass', 'store-refused'
        message = 'the archive accepted the association from %s but refused the C-STORE; nothing stored' % who
    elif explained:
        status, basis = 'pass', 'archive-log'
        message = ('the archive closed the association from %s and its log shows the rejection: %s '
                   '(%d of %d closed attempt(s) matched)' % (who, rejections[0]['line'], len(explained), len(closed)))
    elif len(closed) >= min_attempts and absent:
        status, basis = 'pass', 'repeated-refusal'
        message = ('the archive closed all %d association requests from %s without accepting one, and a C-FIND '
                   'finds none of the probes\' studies' % (len(closed), who))
    elif closed:
        status, basis = 'error', 'inconclusive'
        why = []
        if journal is None:
            why.append('the archive log could not be read')
        elif rejections:
            why.append('its log rejects %s only from %s, not from %s' % (
                who, ', '.join(sorted(set(r['ip'] for r in rejections))),
                ', '.join(sorted(set(str(c['address']) for c in closed)))))
        else:
            why.append('its log shows no rejection of %s' % who)
        if len(closed) < min_attempts:
            why.append('only %d of the %d attempts needed reached the archive' % (len(closed), min_attempts))
        elif not absent:
            why.append('no C-FIND proved the probes\' studies absent')
        message = 'inconclusive: the archive closed the association from %s without a rejection (%s); %s' % (
            who, decisive['detail'], '; '.join(why))
    elif count.get('no-contact'):
        status, basis = 'error', 'inconclusive'
        message = 'inconclusive: no association request reached the archive (%s)' % decisive['detail']
    else:
        status, basis = 'error', 'not-run'
        message = 'the check could not run: %s' % decisive['detail']

    actual = dict(
        association=(decisive or {}).get('result') or 'not run',
        reason=(decisive or {}).get('reason'),
        stored=stored if classified and count.get('error', 0) < len(classified) else None,
        basis=basis,
        attempts=len(classified),
        outcomes=[c.get('result') or c['kind'] for c in classified],
        log_rejections=len(rejections),
    )
    evidence = dict(basis=basis, classified=classified, log_rejections=rejections,
                    log_read=journal is not None, lookups=lookups)
    return dict(status=status, basis=basis, message=message, actual=actual, evidence=evidence)


def refusal_row(requirement, host, check, attempts, calling_aet=None, journal=None, lookups=None,
                min_attempts=MIN_ATTEMPTS, error=None, probe_host=None):
    """A validation report row (requirement, host, check, status, expected, actual, message, evidence).

    error: why the tasks could not gather the attempts (the block's rescue), if they could not.
    probe_host: the host the attempts ran on, named when they could not run there.
    """
    verdict = judge_refusal(attempts, calling_aet=calling_aet, journal=journal, lookups=lookups,
                            min_attempts=min_attempts)
    message = verdict['message']
    if verdict['basis'] == 'not-run':
        reasons = [c['detail'] for c in verdict['evidence']['classified']] or [error or 'not run']
        if error and attempts:
            reasons.append(str(error))
        message = 'the check could not run%s: %s' % (' on %s' % probe_host if probe_host else '',
                                                     '; '.join(sorted(set(reasons))))
    evidence = dict(verdict['evidence'], attempts=list(attempts or []))
    return dict(requirement=requirement, host=host, check=check, status=verdict['status'],
                expected=dict(EXPECTED), actual=verdict['actual'], message=message, evidence=evidence)


# --------------------------------------------------------------------------- registered results


def attempts_of(value):
    """The dicom_store attempts of a registered result, registered loop or list (TypeError otherwise)."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        if "results" in value:
            return [dict(r) for r in value["results"] if isinstance(r, Mapping)]
        return [dict(value)] if value else []
    if isinstance(value, (list, tuple)):
        return [dict(r) if isinstance(r, Mapping) else r for r in value]
    raise TypeError("expected dicom_store results, got %s" % type(value).__name__)


def journal_text(value):
    """The archive's log as text: a registered command's stdout (a failed read is no log) or the text."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        if value.get("skipped") or value.get("failed") or value.get("rc") not in (0, None) or "stdout" not in value:
            return None
        return str(value["stdout"])
    return str(value)


def lookup_matches(value):
    """Matches by Study Instance UID from a registered dicom_find loop or a mapping (TypeError otherwise)."""
    if not value:
        return {}
    if isinstance(value, Mapping) and "results" in value:
        found = {}
        for res in value["results"]:
            if not isinstance(res, Mapping) or res.get("skipped"):
                continue
            uid = str(res.get("item") or "")
            ok = res.get("success") and not res.get("failed") and res.get("matches") is not None
            found[uid] = int(res["matches"]) if ok else None
        return found
    if isinstance(value, Mapping):
        return {str(k): (None if v is None else int(v)) for k, v in value.items()}
    raise TypeError("lookups must be a registered dicom_find loop or a mapping")
