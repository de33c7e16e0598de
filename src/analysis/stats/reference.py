import numpy as np, scipy, statsmodels
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_paired, ttost_ind
print("scipy", scipy.__version__, "statsmodels", statsmodels.__version__)
a = np.log([101.2, 99.8, 103.5, 100.9, 98.7, 102.2])
b = np.log([96.1, 95.0, 99.9, 97.2, 93.8, 97.7])
r = stats.ttest_rel(a, b); print("ttest_rel", repr(r.statistic), repr(r.pvalue), r.df)
print("ttest_rel less", repr(stats.ttest_rel(a, b, alternative='less').pvalue), "greater", repr(stats.ttest_rel(a, b, alternative='greater').pvalue))
ci = stats.ttest_rel(a, b).confidence_interval(0.95); print("ci95", repr(ci.low), repr(ci.high))
x = [12.1, 13.4, 11.8, 12.9, 12.5]
y = [14.2, 15.9, 13.1, 16.4]
r = stats.ttest_ind(x, y, equal_var=False); print("welch", repr(r.statistic), repr(r.pvalue), repr(r.df))
ci = r.confidence_interval(0.95); print("welch ci95", repr(ci.low), repr(ci.high))
print("t.sf(40, 3)", repr(stats.t.sf(40, 3)), "t.sf(12, 8)", repr(stats.t.sf(12.0, 8)))
print("2*t.sf(25, 5)", repr(2*stats.t.sf(25, 5)))
print("t.ppf(0.975, 4)", repr(stats.t.ppf(0.975, 4)), "t.ppf(0.8, 9.5)", repr(stats.t.ppf(0.8, 9.5)))
p = [0.01, 0.04, 0.03, 0.005, 0.20, 0.04]
print("holm", [repr(v) for v in multipletests(p, method='holm')[1]])
print("bh", [repr(v) for v in multipletests(p, method='fdr_bh')[1]])
# TOST paired on logs with margin ln(1.05)
d1 = np.log([100.2, 99.1, 101.0, 100.4, 99.7, 100.9])
d2 = np.log([100.0, 99.5, 100.6, 100.1, 100.2, 100.5])
m = np.log(1.05)
print("ttost_paired", repr(ttost_paired(d1, d2, -m, m)[0]))
print("ttost_ind", repr(ttost_ind(x, y, -3.0, 3.0, usevar='unequal')[0]))
# spearman
xs = [1,2,3,4,5,6,7,8]; ys = [3.1, 2.9, 3.5, 3.4, 4.0, 3.9, 4.4, 4.1]
print("spearman", repr(stats.spearmanr(xs, ys).statistic))
ys2 = [5, 5, 3, 4, 4, 1, 2, 2]
print("spearman ties", repr(stats.spearmanr(xs, ys2).statistic))
# HL
d = np.array(a) - np.array(b)
w = [(d[i]+d[j])/2 for i in range(len(d)) for j in range(i, len(d))]
print("hl paired", repr(float(np.median(w))))
print("hl shift", repr(float(np.median([xi - yi for xi in x for yi in y]))))
# quantiles
q = [1, 2, 3, 4, 5, 6, 7, 100]
print("q25", repr(np.quantile(q, .25)), "q75", repr(np.quantile(q, .75)))
# anova variance components
g = [[10.0, 10.5, 9.8, 10.2], [11.0, 11.3, 10.9], [9.5, 9.9, 9.7, 9.6, 9.8]]
f = stats.f_oneway(*g); print("anova F", repr(f.statistic))
n = sum(len(x) for x in g); k = len(g)
grand = np.mean(np.concatenate(g))
ssb = sum(len(x)*(np.mean(x)-grand)**2 for x in g); ssw = sum(((np.array(x)-np.mean(x))**2).sum() for x in g)
msb = ssb/(k-1); msw = ssw/(n-k); n0 = (n - sum(len(x)**2 for x in g)/n)/(k-1)
print("msb", repr(msb), "msw", repr(msw), "n0", repr(n0), "sb2", repr((msb-msw)/n0))
# statsmodels power: TTestPower for paired (one-sample) MDE
from statsmodels.stats.power import TTestPower
sd = 0.04; nn = 6
es = TTestPower().solve_power(nobs=nn, alpha=0.05, power=0.8, alternative='larger')
print("mde exact noncentral (effect size*sd)", repr(es*sd))
print("approx mde", repr((stats.t.ppf(0.95, nn-1)+stats.t.ppf(0.8, nn-1))*sd/np.sqrt(nn)))
