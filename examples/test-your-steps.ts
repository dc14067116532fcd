// Proving that your own steps roll back, with opledger's harness: it runs them under generated
// failures and cancellations and checks the rollback verdict against your world.
// Run it with `npx tsx examples/test-your-steps.ts`.
import { step } from 'opledger';
import { checkRollback } from 'opledger/testing';

// The world your steps change: DNS records and a load balancer's targets.
const world = { dns: new Map<string, string>(), targets: new Set<string>() };
const reset = () => {
  world.dns = new Map([['web.example.com', '10.0.0.1']]);
  world.targets = new Set(['10.0.0.1']);
};
const observe = () => ({ dns: [...world.dns].sort(), targets: [...world.targets].sort() });

const registerTarget = step({
  name: 'register target',
  run: () => {
    world.targets.add('10.0.0.2');
    return { target: '10.0.0.2' };
  },
  undo: ({ output }) => {
    if (output) world.targets.delete(output.target);
  },
});

const healthCheck = step({ name: 'health check', kind: 'no_side_effects', run: () => undefined });
const announce = step({ name: 'announce', kind: 'no_side_effects', run: () => undefined });

const pointDns = (brokenUndo: boolean) =>
  step({
    name: 'point DNS',
    run: () => {
      const previous = world.dns.get('web.example.com');
      world.dns.set('web.example.com', '10.0.0.2');
      return { previous };
    },
    undo: ({ output }) => {
      // The broken version forgets to restore the previous address.
      if (brokenUndo) world.dns.delete('web.example.com');
      else if (output?.previous) world.dns.set('web.example.com', output.previous);
    },
  });

const good = await checkRollback({
  operation: [registerTarget, healthCheck, pointDns(false), announce],
  observe,
  reset,
  seed: 42,
});
console.log(`correct steps: ${good.ok ? `rollback verified in ${good.runs} runs` : 'FAILED'}`);

// #region check
const broken = await checkRollback({
  operation: [registerTarget, healthCheck, pointDns(true), announce],
  observe,
  reset,
  seed: 42,
});
if (broken.ok) {
  console.log('broken undo: NOT caught');
} else {
  const { plan, problem, before, after } = broken.counterexample;
  console.log(`broken undo caught: ${problem}`);
  console.log(`  smallest fault plan: ${JSON.stringify(plan)}`);
  console.log(`  before: ${JSON.stringify(before)}`);
  console.log(`  after:  ${JSON.stringify(after)}`);
}
// #endregion check
if (!good.ok || broken.ok) process.exit(1);
