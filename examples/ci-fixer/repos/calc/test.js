const assert = require('node:assert');
const { sum } = require('./src/sum.js');
const { formatDay } = require('./src/day.js');

assert.strictEqual(sum([]), 0, 'sum of nothing is 0');
assert.strictEqual(sum([2, 3, 4]), 9, 'sum([2, 3, 4]) is 9');
assert.strictEqual(formatDay(new Date(2026, 11, 5, 12)), '2026-12-05', 'noon on 5 December is 2026-12-05');
assert.strictEqual(formatDay(new Date(2026, 11, 4, 20)), '2026-12-04', '20:00 on 4 December is 2026-12-04');
console.log('all tests passed');
