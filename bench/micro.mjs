import { reviewAdmission } from '@meshbus/injector';
import { typicalPod, admissionReview } from './dist/injector-bench.js';
import { testConfig } from '../services/injector/dist/testdata/config.js';
const ns = { get: async (name) => ({ name, annotations: { 'meshbus.io/inject': 'enabled' } }) };
const body = admissionReview('u', typicalPod());
for (let round = 0; round < 3; round++) {
  const n = 20000;
  let t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) { const a = await reviewAdmission(body, ns, testConfig); JSON.stringify(a.body); }
  const total = Number(process.hrtime.bigint() - t) / n / 1000;
  t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) JSON.parse(body);
  const parse = Number(process.hrtime.bigint() - t) / n / 1000;
  console.log(`review+stringify ${total.toFixed(1)} µs/req, JSON.parse alone ${parse.toFixed(1)} µs`);
}
