import * as vscode from 'vscode';
import type { FilterOptions } from '../git/inputFilter.js';
import { PRECISIONS, type Precision } from '../runtime/precision.js';
import { DEFAULT_SERVER_MODEL } from '../tasks/cmg/serverWriter.js';

/** A precision setting edited by hand to something unknown reads as auto (the schema offers only the three). */
const parsePrecisionSetting = (v: string | undefined): Precision =>
  (PRECISIONS as readonly string[]).includes(v ?? '') ? (v as Precision) : 'auto';

/** Changeling's settings, read fresh each time (so changes apply without a reload). */
export function settings() {
  const c = vscode.workspace.getConfiguration('changeling');
  const trusted = vscode.workspace.isTrusted;
  return {
    filter: { exclude: c.get<string[]>('filter.exclude') ?? [], include: c.get<string[]>('filter.include') ?? [] } satisfies FilterOptions,
    // In an untrusted workspace, folders named by the workspace's settings are not loaded.
    messageModel: trusted ? (c.get<string>('messages.model') ?? '').trim() : '',
    messageAdapter: trusted ? (c.get<string>('messages.adapter') ?? '').trim() : '',
    // A local server is loopback-only (checked when used); an untrusted workspace cannot name one.
    messageServer: trusted ? (c.get<string>('messages.server') ?? '').trim() : '',
    messageServerModel: (c.get<string>('messages.serverModel') ?? '').trim() || DEFAULT_SERVER_MODEL,
    body: c.get<boolean>('messages.body') ?? true,
    count: c.get<number>('messages.count') ?? 5,
    style: c.get<boolean>('messages.style') ?? true,
    subjectLimit: c.get<number>('messages.subjectLimit') ?? 72,
    history: c.get<number>('messages.history') ?? 5000,
    riskStatusBar: c.get<boolean>('risk.statusBar') ?? true,
    riskModel: trusted ? (c.get<string>('risk.model') ?? '').trim() : '',
    debounceMs: c.get<number>('risk.debounceMs') ?? 1500,
    provider: c.get<string>('provider') ?? 'auto',
    precision: parsePrecisionSetting(c.get<string>('precision')),
    // The folders fine-tuning starts from: workspace-named folders only in a trusted workspace, as above.
    finetuneMessageModel: trusted ? (c.get<string>('finetune.messageModel') ?? '').trim() : '',
    finetuneRiskEncoder: trusted ? (c.get<string>('finetune.riskEncoder') ?? '').trim() : '',
    finetuneThreads: c.get<number>('finetune.threads') ?? 0,
    maxDiffBytes: c.get<number>('mine.maxDiffBytes'),
  };
}
