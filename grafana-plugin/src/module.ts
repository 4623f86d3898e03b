import { FieldConfigProperty, PanelPlugin } from '@grafana/data';
import { EquipmentPanel } from './components/EquipmentPanel';
import { buildOptions } from './options';
import { PanelOptions } from './types';

export const plugin = new PanelPlugin<PanelOptions>(EquipmentPanel)
  .setPanelOptions(buildOptions)
  // Only data links are meaningful here (on the device field: one per card and alert); the rest of the
  // standard field options would do nothing.
  .useFieldConfig({
    disableStandardOptions: [
      FieldConfigProperty.Unit,
      FieldConfigProperty.Min,
      FieldConfigProperty.Max,
      FieldConfigProperty.Decimals,
      FieldConfigProperty.DisplayName,
      FieldConfigProperty.NoValue,
      FieldConfigProperty.Thresholds,
      FieldConfigProperty.Mappings,
      FieldConfigProperty.Color,
    ],
  });
