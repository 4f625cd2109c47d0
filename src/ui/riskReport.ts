import type { LoadedRiskModel, RiskResult } from '../tasks/jitdp/risk.js';
import { REASONS_UNIT, reasonLine, tokenText } from '../tasks/jitdp/reasons.js';

import { escAttr as esc } from '../util/reportText.js';

/** The risk report as a self-contained HTML page (no scripts) for a webview. */
export function renderRiskReport(results: readonly RiskResult[], model: LoadedRiskModel, what: string, cspSource: string): string {
  const sections = results.map((r) => {
    const reasons = r.reasons.map((x) => `<tr><td class="${x.points >= 0 ? 'up' : 'down'}">${esc(reasonLine(x))}</td></tr>`).join('');
    const lines = r.lines
      .map((l) => {
        const where = `<code>${esc(l.path)}:${l.line}</code>`;
        const text = `<code>${esc(l.text.trim().slice(0, 120))}</code>`;
        const why = l.why ? esc(l.why.map(tokenText).join(', ')) : '';
        return `<tr><td>${where}</td><td>${l.sign === '+' ? 'added' : 'removed'}</td><td>${text}</td><td>${l.score.toFixed(3)}</td><td>${why}</td></tr>`;
      })
      .join('');
    return `<section class="${r.level}">
<h2><span class="badge ${r.level}">${r.level}</span> ${Math.round(r.probability * 100)}% &middot; ${esc(r.sha ? r.sha.slice(0, 12) + ' ' + r.subject : 'the staged change')}</h2>
<h3>Reasons</h3><p class="note">In ${esc(REASONS_UNIT)}.</p><table>${reasons || '<tr><td>none</td></tr>'}</table>
<h3>Riskiest lines</h3>${
      lines
        ? `<table><tr><th>where</th><th></th><th>line</th><th>score</th><th>why</th></tr>${lines}</table>`
        : `<p class="note">No line scores: ${
            model.kind === 'linear' && !model.lines && model.linear?.vocab.size === 0
              ? 'this model holds no code tokens. Fine-tune the risk model on this repository ("Changeling: Fine-tune on this repository") for line-level scores.'
              : 'no changed line holds a code token the model counts towards risk.'
          }</p>`
    }
</section>`;
  });
  return `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource} 'unsafe-inline';">
<title>Changeling: risk</title>
<style>
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 1em; max-width: 60em; }
table { max-width: 100%; } code { word-break: break-all; }
table { border-collapse: collapse; margin-bottom: 1em; } td, th { padding: 2px 10px 2px 0; text-align: left; vertical-align: top; }
.badge { padding: 1px 6px; border-radius: 3px; text-transform: uppercase; font-size: 0.8em; }
.badge.high { background: var(--vscode-statusBarItem-warningBackground); color: var(--vscode-statusBarItem-warningForeground); }
.badge.medium { background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); }
.badge.low { border: 1px solid var(--vscode-foreground); }
.up { color: var(--vscode-errorForeground); } .down { color: var(--vscode-testing-iconPassed); }
.note { opacity: 0.8; }
</style></head><body>
<h1>Risk of ${esc(what)}</h1>
${sections.join('\n')}
<details><summary>How this is computed</summary><p class="note">Model: ${esc(model.source === 'embedded default' ? 'the built-in model' : model.source)} (${model.kind}); \
high at ${Math.round(model.threshold * 100)}% or more, medium at half of that. A reason's effect is the probability minus the \
probability with that fact as in a typical commit (${model.kind === 'linear' ? 'exact for this linear model' : 'the facts set to their typical values one at a time'}); \
a fact whose learnt effect goes against its established direction is left out. A line's score is how likely a later fix \
is to change it${model.lines ? ' (the built-in line model)' : ''}.</p></details>
</body></html>`;
}

/** The report of the staged change when nothing is staged any more. */
export function emptyRiskReport(cspSource: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource} 'unsafe-inline';">
<title>Changeling: risk</title>
<style>body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 1em; }</style></head><body>
<h1>Nothing is staged</h1>
<p>The risk of the staged change shows here again as soon as something is staged.</p>
</body></html>`;
}
