import { PanelOptionsEditorBuilder, standardEditorsRegistry } from '@grafana/data';
import { plugin } from './module';
import { buildOptions } from './options';
import { DEFAULT_FIELDS, DEFAULT_OPTIONS, PanelOptions } from './types';

// Grafana registers its option editors at start-up (app code, not in @grafana/*); register stand-ins so the
// builder can resolve the editor ids our options ask for.
standardEditorsRegistry.setInit(() =>
  ['radio', 'text', 'multi-select', 'boolean', 'select', 'number', 'slider'].map((id) => ({
    id,
    name: id,
    editor: () => null,
  }))
);

describe('options builder', () => {
  const items = buildOptions(new PanelOptionsEditorBuilder<PanelOptions>()).getItems();
  const byPath = new Map(items.map((i) => [i.path, i]));

  it('declares every panel option with the documented default', () => {
    for (const key of Object.keys(DEFAULT_OPTIONS).filter((k) => k !== 'fields') as Array<keyof PanelOptions>) {
      expect(byPath.get(key)?.defaultValue).toEqual(DEFAULT_OPTIONS[key]);
    }
  });

  it('offers a mapping for every contract field, under its own category', () => {
    for (const [key, value] of Object.entries(DEFAULT_FIELDS)) {
      const item = byPath.get(`fields.${key}`)!;
      expect(item.defaultValue).toBe(value);
      expect(item.category).toEqual(['Field mappings']);
    }
  });

  it('offers the three view modes and the wall-display density', () => {
    expect(byPath.get('viewMode')!.settings.options.map((o: any) => o.value)).toEqual(['both', 'equipment', 'alerts']);
    expect(byPath.get('density')!.settings.options.map((o: any) => o.value)).toContain('wall');
    expect(byPath.get('fontSize')!.settings).toMatchObject({ min: 60, max: 250 });
  });

  it('is wired into the exported plugin', () => {
    expect(plugin.panel).toBeDefined();
    const supplier = (plugin as any).getPanelOptionsSupplier();
    const b = new PanelOptionsEditorBuilder<PanelOptions>();
    supplier(b, { data: [] });
    expect(b.getItems().map((i) => i.path)).toEqual(items.map((i) => i.path));
  });
});
