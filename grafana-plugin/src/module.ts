import { FieldConfigProperty, PanelPlugin } from '@grafana/data';
import { EquipmentPanel } from './components/EquipmentPanel';
import { buildOptions } from './options';
import { PanelOptions } from './types';

export const plugin = new PanelPlugin<PanelOptions>(EquipmentPanel)
  .setPanelOptions(buildOptions)
  // Data links (on the device field: one per card and alert), and unit, decimals and display name for the
  // measured values on the cards (per field with overrides); the rest of the standard options would do nothing.
  .useFieldConfig({
    disableStandardOptions: [
      FieldConfigProperty.Min,
      FieldConfigProperty.Max,
      FieldConfigProperty.NoValue,
      FieldConfigProperty.Thresholds,
      FieldConfigProperty.Mappings,
      FieldConfigProperty.Color,
    ],
  });
