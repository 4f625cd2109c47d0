"""Compares `changeling features --json` (and, given, `changeling label --json`) with JIT-Defects4J's rows.

JIT-Defects4J's validation split (data/features_valid.pkl of github:monilouise/codeflowlm_jitdl, a pandas
pickle, read here with the image's Python, never by the extension). Usage:
  python compare.py features_valid.pkl PROJECT features.jsonl [labels.jsonl]
Prints, for the project's commits: how many agree exactly per feature (the floats to 1e-6 relative), the
precision and recall of `fix` against the dataset's `fix`, and with labels those of our buggy label against
`is_buggy_commit`.
"""
import json, sys
import pandas as pd

pkl, project, feats = sys.argv[1:4]
d = pd.read_pickle(pkl)
d = d[d['project'] == project]
ours = {}
for line in open(feats):
    r = json.loads(line)
    ours[r['sha']] = r
rows = [(r, ours.get(r['commit_hash'])) for _, r in d.iterrows()]
found = [(r, o) for r, o in rows if o is not None]
print(f'{project}: {len(d)} commits in the split, {len(found)} found in the history')
names = ['la', 'ld', 'nf', 'ns', 'nd', 'entropy', 'lt', 'ndev', 'age', 'nuc', 'exp', 'rexp', 'sexp']
def same(a, b):
    a, b = float(a), float(b)
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))
for n in names:
    ok = sum(1 for r, o in found if same(o[n], r[n]))
    near = sum(1 for r, o in found if abs(float(o[n]) - float(r[n])) <= 0.05 * max(1.0, abs(float(r[n]))))
    print(f'  {n:8s} {ok}/{len(found)} equal, {near}/{len(found)} within 5%')
files_ok = [(r, o) for r, o in found if all(same(o[n], r[n]) for n in ['la', 'ld', 'nf'])]
print(f'  la, ld and nf all equal: {len(files_ok)}/{len(found)}')
def pr(pred, gold):
    tp = sum(1 for p, g in zip(pred, gold) if p and g)
    fp = sum(1 for p, g in zip(pred, gold) if p and not g)
    fn = sum(1 for p, g in zip(pred, gold) if not p and g)
    return tp / max(1, tp + fp), tp / max(1, tp + fn), tp, fp, fn
truth = lambda v: str(v).lower() in ('true', '1', '1.0')
p, r_, tp, fp, fn = pr([o['fix'] == 1 for r, o in found], [truth(r['fix']) for r, o in found])
print(f'  fix: precision {p:.3f}, recall {r_:.3f} (tp {tp}, fp {fp}, fn {fn})')
if len(sys.argv) > 4:
    lab = {}
    for line in open(sys.argv[4]):
        x = json.loads(line)
        lab[x['sha']] = 1 if x.get('buggy', x.get('label')) in (True, 1) else 0
    both = [(r, lab[r['commit_hash']]) for r, o in found if r['commit_hash'] in lab]
    p, r_, tp, fp, fn = pr([l == 1 for r, l in both], [truth(r['is_buggy_commit']) for r, l in both])
    print(f'  buggy (SZZ): precision {p:.3f}, recall {r_:.3f} (tp {tp}, fp {fp}, fn {fn}) over {len(both)} commits')
