// A Stryker ignorer (https://stryker-mutator.io/docs/stryker-js/configuration/#ignorers) that
// leaves out mutants of the text people read: error messages and Operation Log lines. Changing
// that text changes no decision, state, event or error code, so such a mutant can only survive
// or be killed by a test that pins a sentence, which is not what the mutation run is for.
// Everything else stays mutated: error codes, log levels, the conditions that choose a line,
// and strings a program reads (event types, statuses, retry-policy problems, whose emptiness
// decides whether a definition is refused).
import { PluginKind, declareValuePlugin } from '@stryker-mutator/api/plugin';

/** Error codes are behaviour (callers switch on `error.code`): never ignored. */
const isErrorCode = (node) => node.type === 'StringLiteral' && /^[A-Z][A-Z_]+$/.test(node.value);

const isText = (path) => path.isStringLiteral() || path.isTemplateLiteral();

const calleeName = (callee) =>
  callee.type === 'Identifier' ? callee.name : callee.type === 'Super' ? 'super' : undefined;

// decide's `invalid(reason)` and the definition/codec `fail(problem)` helpers build the message
// of an error whose class and code are fixed by the helper itself.
const MESSAGE_HELPERS = new Set(['invalid', 'fail']);

const isMessageArgument = (path) => {
  const parent = path.parentPath;
  if (!parent || path.listKey !== 'arguments' || isErrorCode(path.node)) return false;
  const name = calleeName(parent.node.callee);
  if (parent.isCallExpression()) return name === 'super' || MESSAGE_HELPERS.has(name);
  // new InvalidDefinitionError(type, problem), new Error('...'): the text of the message.
  return parent.isNewExpression() && name !== undefined && name.endsWith('Error');
};

const fileOf = (path) => path.hub?.file?.opts?.filename ?? '';

// In log-lines.ts every string is text of an Operation Log line except its level, the event
// types a `case` matches (which decide whether there is a line at all) and the operands of a
// comparison (`outcome === 'succeeded'` chooses the level of the verdict).
const isLogText = (path) => {
  if (!/src[\\/]domain[\\/]log-lines\.ts$/.test(fileOf(path))) return false;
  const parent = path.parentPath;
  if (parent.isSwitchCase() && path.key === 'test') return false;
  if (parent.isBinaryExpression()) return false;
  if (parent.isObjectProperty() && path.key === 'value' && parent.node.key.name === 'level') {
    return false;
  }
  return true;
};

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'message-text', {
    shouldIgnore(path) {
      if (!isText(path)) return undefined;
      if (isMessageArgument(path)) return 'error message text: read by people, decides nothing';
      if (isLogText(path)) return 'Operation Log text: read by people, decides nothing';
      return undefined;
    },
  }),
];
