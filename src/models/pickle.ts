import { ChangelingError } from '../util/errors.js';

/**
 * A pickle reader that executes nothing. It understands the opcodes torch.save emits (protocols 2-5)
 * and resolves a GLOBAL only if `allow` maps it to a JavaScript stand-in; any other global (os.system,
 * builtins.eval, ...) stops loading with an error that names it. REDUCE and BUILD apply only those
 * stand-ins. Persistent ids (PyTorch's storages) go to `persistentLoad`.
 */
export type Callable = { kind: 'callable'; name: string; call: (args: unknown[]) => unknown };
class PickleMark {}
const MARK = new PickleMark();

export interface UnpickleOptions {
  allow: Record<string, (args: unknown[]) => unknown>;
  /** Values for globals that are constants rather than callables (e.g. torch dtypes). */
  constants?: Record<string, unknown>;
  persistentLoad: (pid: unknown) => unknown;
  what: string;
}

export function unpickle(buf: Buffer, o: UnpickleOptions): unknown {
  try {
    return unpickleUnchecked(buf, o);
  } catch (err) {
    // A malformed pickle (stack underflow, bad operands) is a clear error; nothing in it ever ran.
    if (err instanceof ChangelingError) throw err;
    throw new ChangelingError('io', `${o.what}: a corrupt pickle (${(err as Error)?.message?.split('\n')[0] ?? String(err)})`);
  }
}

function unpickleUnchecked(buf: Buffer, o: UnpickleOptions): unknown {
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let i = 0;
  const fail = (why: string) => new ChangelingError('io', `${o.what}: ${why}`);
  const popMark = (): unknown[] => {
    let k = stack.length - 1;
    while (k >= 0 && stack[k] !== MARK) k--;
    if (k < 0) throw fail('pickle MARK missing');
    const items = stack.splice(k + 1);
    stack.pop();
    return items;
  };
  const resolve = (module: string, name: string): unknown => {
    const key = `${module}.${name}`;
    if (o.constants && key in o.constants) return o.constants[key];
    const fn = o.allow[key];
    if (!fn)
      throw new ChangelingError(
        'io',
        `refusing to load ${o.what}: it references the Python global "${key}", which could run code; only the globals that rebuild tensors and ordered dicts are accepted`,
      );
    return { kind: 'callable', name: key, call: fn } satisfies Callable;
  };
  const readLine = () => {
    const nl = buf.indexOf(0x0a, i);
    if (nl < 0) throw fail('truncated pickle');
    const s = buf.toString('latin1', i, nl);
    i = nl + 1;
    return s;
  };
  const need = (n: number) => {
    if (i + n > buf.length) throw fail('truncated pickle');
  };
  for (;;) {
    need(1);
    const op = buf[i++]!;
    switch (op) {
      case 0x80:
        i += 1;
        break; // PROTO
      case 0x95:
        need(8);
        i += 8;
        break; // FRAME
      case 0x2e:
        return stack.pop(); // STOP
      case 0x28:
        stack.push(MARK);
        break;
      case 0x29:
        stack.push([]);
        break; // EMPTY_TUPLE
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x7d:
        stack.push(new Map());
        break; // EMPTY_DICT
      case 0x8f:
        stack.push(new Set());
        break; // EMPTY_SET
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x4b:
        need(1);
        stack.push(buf[i]);
        i += 1;
        break; // BININT1
      case 0x4d:
        need(2);
        stack.push(buf.readUInt16LE(i));
        i += 2;
        break; // BININT2
      case 0x4a:
        need(4);
        stack.push(buf.readInt32LE(i));
        i += 4;
        break; // BININT
      case 0x8a: {
        // LONG1
        need(1);
        const n = buf[i++]!;
        need(n);
        let v = 0n;
        for (let k = n - 1; k >= 0; k--) v = (v << 8n) | BigInt(buf[i + k]!);
        if (n > 0 && buf[i + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        i += n;
        stack.push(Number(v));
        break;
      }
      case 0x47:
        need(8);
        stack.push(buf.readDoubleBE(i));
        i += 8;
        break; // BINFLOAT
      case 0x58: {
        need(4);
        const n = buf.readUInt32LE(i);
        i += 4;
        need(n);
        stack.push(buf.toString('utf8', i, i + n));
        i += n;
        break;
      } // BINUNICODE
      case 0x8c: {
        need(1);
        const n = buf[i++]!;
        need(n);
        stack.push(buf.toString('utf8', i, i + n));
        i += n;
        break;
      } // SHORT_BINUNICODE
      case 0x8d: {
        need(8);
        const n = Number(buf.readBigUInt64LE(i));
        i += 8;
        need(n);
        stack.push(buf.toString('utf8', i, i + n));
        i += n;
        break;
      } // BINUNICODE8
      case 0x55: {
        need(1);
        const n = buf[i++]!;
        need(n);
        stack.push(buf.toString('latin1', i, i + n));
        i += n;
        break;
      } // SHORT_BINSTRING
      case 0x54: {
        need(4);
        const n = buf.readUInt32LE(i);
        i += 4;
        need(n);
        stack.push(buf.toString('latin1', i, i + n));
        i += n;
        break;
      } // BINSTRING
      case 0x43: {
        need(1);
        const n = buf[i++]!;
        need(n);
        stack.push(buf.subarray(i, i + n));
        i += n;
        break;
      } // SHORT_BINBYTES
      case 0x42: {
        need(4);
        const n = buf.readUInt32LE(i);
        i += 4;
        need(n);
        stack.push(buf.subarray(i, i + n));
        i += n;
        break;
      } // BINBYTES
      case 0x71:
        need(1);
        memo.set(buf[i++]!, stack.at(-1));
        break; // BINPUT
      case 0x72:
        need(4);
        memo.set(buf.readUInt32LE(i), stack.at(-1));
        i += 4;
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, stack.at(-1));
        break; // MEMOIZE
      case 0x68:
        need(1);
        stack.push(memo.get(buf[i++]!));
        break; // BINGET
      case 0x6a:
        need(4);
        stack.push(memo.get(buf.readUInt32LE(i)));
        i += 4;
        break; // LONG_BINGET
      case 0x74:
        stack.push(popMark());
        break; // TUPLE
      case 0x85:
        stack.push([stack.pop()]);
        break; // TUPLE1
      case 0x86: {
        const b = stack.pop();
        const a = stack.pop();
        stack.push([a, b]);
        break;
      } // TUPLE2
      case 0x87: {
        const c = stack.pop();
        const b = stack.pop();
        const a = stack.pop();
        stack.push([a, b, c]);
        break;
      } // TUPLE3
      case 0x6c:
        stack.push(popMark());
        break; // LIST
      case 0x61: {
        const v = stack.pop();
        (stack.at(-1) as unknown[]).push(v);
        break;
      } // APPEND
      case 0x65: {
        const items = popMark();
        (stack.at(-1) as unknown[]).push(...items);
        break;
      } // APPENDS
      case 0x73: {
        const v = stack.pop();
        const k = stack.pop();
        (stack.at(-1) as Map<unknown, unknown>).set(k, v);
        break;
      } // SETITEM
      case 0x75: {
        const items = popMark();
        const d = stack.at(-1) as Map<unknown, unknown>;
        for (let k = 0; k < items.length; k += 2) d.set(items[k], items[k + 1]);
        break;
      } // SETITEMS
      case 0x90: {
        const items = popMark();
        const s = stack.at(-1) as Set<unknown>;
        items.forEach((x) => s.add(x));
        break;
      } // ADDITEMS
      case 0x63: {
        const module = readLine();
        const name = readLine();
        stack.push(resolve(module, name));
        break;
      } // GLOBAL
      case 0x93: {
        const name = stack.pop() as string;
        const module = stack.pop() as string;
        stack.push(resolve(module, name));
        break;
      } // STACK_GLOBAL
      case 0x52: {
        // REDUCE
        const args = stack.pop() as unknown[];
        const f = stack.pop() as Callable;
        if (!f || (f as Callable).kind !== 'callable') throw fail('REDUCE on something that is not an allowed global');
        stack.push(f.call(args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = stack.pop() as unknown[];
        const cls = stack.pop() as Callable;
        if (!cls || cls.kind !== 'callable') throw fail('NEWOBJ on something that is not an allowed global');
        stack.push(cls.call(args));
        break;
      }
      case 0x62:
        stack.pop();
        break; // BUILD: state of an allowed object (an OrderedDict's or Parameter's metadata) is not needed
      case 0x51:
        stack.push(o.persistentLoad(stack.pop()));
        break; // BINPERSID
      default:
        throw fail(`unsupported pickle opcode 0x${op.toString(16)} at byte ${i - 1}`);
    }
  }
}
