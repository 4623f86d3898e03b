/**
 * @jest-environment node
 */
// Checks the production bundle that `npm run build` wrote (root `npm test` builds before running Jest):
// an AMD module whose Grafana-provided dependencies stay external, and a plugin.json with its placeholders
// filled in.
import fs from 'fs';
import path from 'path';

const dist = path.resolve(__dirname, '..', 'dist');
const built = fs.existsSync(path.join(dist, 'module.js'));
const maybe = built ? describe : describe.skip;

maybe('dist/ (production build)', () => {
  const js = built ? fs.readFileSync(path.join(dist, 'module.js'), 'utf8') : '';

  it('is an AMD module with React, rxjs and @grafana/* as externals', () => {
    const m = /^define\((\[[^\]]*\])/.exec(js);
    expect(m).not.toBeNull();
    const deps: string[] = JSON.parse(m![1]);
    expect(deps).toEqual(expect.arrayContaining(['react', '@grafana/data', '@grafana/ui', '@grafana/runtime']));
  });

  it('does not bundle React, ReactDOM or Grafana packages', () => {
    expect(js).not.toMatch(/__SECRET_INTERNALS|__CLIENT_INTERNALS|react\.development|ReactDOM/);
    expect(js).not.toContain('createDataFrame');
    expect(js.length).toBeLessThan(100 * 1024);
  });

  it('ships plugin.json with id, version and date, plus the logo and README', () => {
    const pj = JSON.parse(fs.readFileSync(path.join(dist, 'plugin.json'), 'utf8'));
    expect(pj.id).toBe('mobyiot-equipment-panel');
    expect(pj.type).toBe('panel');
    expect(pj.info.version).toBe(require('../package.json').version);
    expect(pj.info.updated).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(fs.existsSync(path.join(dist, pj.info.logos.small))).toBe(true);
    expect(fs.existsSync(path.join(dist, 'README.md'))).toBe(true);
  });
});
