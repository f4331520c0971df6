import { describe, expect, it } from 'vitest';
import { intersectSubjects, selectStreams, validateSubjectFilter } from './event-subjects.js';

describe('intersectSubjects', () => {
  it.each([
    ['meshbus.v1.state.endpoints.shop.>', 'meshbus.v1.state.>', 'meshbus.v1.state.endpoints.shop.>'],
    ['meshbus.v1.>', 'meshbus.v1.state.>', 'meshbus.v1.state.>'],
    ['>', 'meshbus.v1.events.>', 'meshbus.v1.events.>'],
    ['*.v1.state.endpoints.*.web.80', 'meshbus.v1.state.>', 'meshbus.v1.state.endpoints.*.web.80'],
    ['meshbus.v1.*.leader.*', 'meshbus.v1.events.>', 'meshbus.v1.events.leader.*'],
    ['meshbus.v1.state', 'meshbus.v1.state.>', undefined],
    ['meshbus.v1.events.>', 'meshbus.v1.state.>', undefined],
    ['meshbus.v1.identity.certify', 'meshbus.v1.state.>', undefined],
    ['a.b', 'a.b', 'a.b'],
    ['a.*', 'a.b.c', undefined],
    ['a.>', 'a.*.c', 'a.*.c'],
  ])('%s ∩ %s = %s', (a, b, expected) => {
    expect(intersectSubjects(a, b)).toBe(expected);
    expect(intersectSubjects(b, a)).toBe(expected);
  });
});

describe('selectStreams', () => {
  it('reads both whole streams without a filter', () => {
    expect(selectStreams()).toEqual([
      { stream: 'MESHBUS_STATE', filter: 'meshbus.v1.state.>' },
      { stream: 'MESHBUS_EVENTS', filter: 'meshbus.v1.events.>' },
    ]);
  });

  it('picks the stream a filter falls in', () => {
    expect(selectStreams('meshbus.v1.state.endpoints.shop.>')).toEqual([{ stream: 'MESHBUS_STATE', filter: 'meshbus.v1.state.endpoints.shop.>' }]);
    expect(selectStreams('meshbus.v1.events.leader.*')).toEqual([{ stream: 'MESHBUS_EVENTS', filter: 'meshbus.v1.events.leader.*' }]);
  });

  it('picks both streams for a filter that spans them', () => {
    expect(selectStreams('meshbus.v1.*.workloads.>')).toEqual([
      { stream: 'MESHBUS_STATE', filter: 'meshbus.v1.state.workloads.>' },
      { stream: 'MESHBUS_EVENTS', filter: 'meshbus.v1.events.workloads.>' },
    ]);
  });

  it('reads the traffic summaries only for a filter that names them', () => {
    expect(selectStreams('meshbus.v1.metrics.>')).toEqual([{ stream: 'MESHBUS_METRICS', filter: 'meshbus.v1.metrics.>' }]);
    expect(selectStreams('meshbus.v1.metrics.shop.*')).toEqual([{ stream: 'MESHBUS_METRICS', filter: 'meshbus.v1.metrics.shop.*' }]);
    expect(selectStreams('*.v1.metrics.shop.web')).toEqual([{ stream: 'MESHBUS_METRICS', filter: 'meshbus.v1.metrics.shop.web' }]);
    expect(selectStreams().map((s) => s.stream)).not.toContain('MESHBUS_METRICS');
    expect(selectStreams('meshbus.v1.>').map((s) => s.stream)).toEqual(['MESHBUS_STATE', 'MESHBUS_EVENTS']);
    expect(selectStreams('>').map((s) => s.stream)).toEqual(['MESHBUS_STATE', 'MESHBUS_EVENTS']);
    expect(selectStreams('meshbus.v1.*.shop.web').map((s) => s.stream)).toEqual(['MESHBUS_STATE', 'MESHBUS_EVENTS']);
  });

  it('refuses a filter outside every stream, naming them', () => {
    expect(() => selectStreams('meshbus.v1.identity.certify')).toThrow(
      'subject "meshbus.v1.identity.certify" is in no stream: it must fall within meshbus.v1.state.> (MESHBUS_STATE), meshbus.v1.events.> (MESHBUS_EVENTS) or meshbus.v1.metrics.> (MESHBUS_METRICS)',
    );
    expect(() => selectStreams('meshbus.v1.metrics')).toThrow(/is in no stream/);
  });

  it.each([
    ['meshbus..state', /empty or blank token/],
    ['meshbus.v1.state.>.x', /'>' may only be the last token/],
    ['meshbus.v1.sta*', /must be whole tokens/],
    ['meshbus.v1 state', /empty or blank token/],
  ])('refuses the malformed subject %s', (subject, message) => {
    expect(() => validateSubjectFilter(subject)).toThrow(message);
  });
});
