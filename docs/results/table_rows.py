# The compact per-method table rows of docs/results.md from a `lpft-mpi report` folder's CSVs:
#   python3 docs/results/table_rows.py docs/results/<task>
import csv, sys
d = sys.argv[1]
def load(n): return {r['method']: r for r in csv.DictReader(open(f'{d}/{n}.csv'))}
acc, feat, head, ntk, tim = load('accuracy'), load('features'), load('head_norm'), load('ntk'), load('time')
cal = {r['method']: r for r in csv.DictReader(open(f'{d}/calibration.csv')) if r['set'] == 'test'}
names = {'lp': 'LP', 'ft': 'FT', 'lp-ft': 'LP-FT', 'lora': 'LoRA', 'lp-lora': 'LP-LoRA'}
oods = [k[9:-5] for k in next(iter(acc.values())) if k.startswith('accuracy_') and k.endswith('_mean') and k != 'accuracy_test_mean']
def f(x, n=2): return f'{float(x):.{n}f}'
def ms(r, key, n=2): return f"{f(r[key + '_mean'], n)} ± {f(r[key + '_std'] or 0, n)}"   # mean ± sample std
for m in ['lp', 'ft', 'lp-ft', 'lora', 'lp-lora']:
    if m not in acc: continue
    a, c, h, fe, t = acc[m], cal[m], head[m], feat[m], tim[m]
    cells = [names[m], a['seeds'], f"{f(a['accuracy_test_mean'])} ± {f(a['accuracy_test_std'])}"]
    cells += [f"{f(a[f'accuracy_{o}_mean'])} ± {f(a[f'accuracy_{o}_std'])}" for o in oods]
    cells += [f"{ms(c, 'ece')} → {ms(c, 'ece_ts')} %", f"{ms(c, 'mce', 1)} → {ms(c, 'mce_ts', 1)} %"]
    lp = f(h['head_norm_after_lp_mean']) if h['head_norm_after_lp_mean'] else '–'
    cells += [f"{f(h['head_norm_init_mean'])} → {lp} → {ms(h, 'head_norm_final')}"]
    cells += ['–' if m == 'lp' else ms(fe, 'diff'), ms(fe, 'cs_ts', 3), ms(fe, 'fdr_ts', 3)]
    if m in ntk:
        r, sd = float(ntk[m]['ft_ratio_mean']), float(ntk[m]['ft_ratio_std'])
        n = 4 if r < 0.01 else 3
        cells += [f"{r:.{n}f} ± {sd:.{n}f}"]
    else:
        cells += ['–']
    cells += [f"{float(t['seconds_mean']):.0f} ± {float(t['seconds_std']):.0f} s"]
    print('| ' + ' | '.join(cells) + ' |')
