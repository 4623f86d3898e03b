// Panel options, declared through Grafana's options builder so they get the standard editor UI.
import { PanelOptionsEditorBuilder, type SelectableValue } from '@grafana/data';
import {
  DEFAULT_FIELDS,
  DEFAULT_OPTIONS,
  type AlertPhase,
  type DeviceSort,
  type FieldMap,
  type PanelOptions,
  type Severity,
} from './types';

/** The equipment sort orders: `label` in the panel editor, `short` in the panel's own sort menu. */

/** The builder types a multi-select's options as the array type of its value; each option is one element. */
function multiOptions<T extends string>(options: Array<{ value: T; label: string }>): Array<SelectableValue<T[]>> {
  return options as unknown as Array<SelectableValue<T[]>>;
}

export const DEVICE_SORTS: ReadonlyArray<{ value: DeviceSort; label: string; short: string }> = [
  { value: 'condition', label: 'Worst first (card colour)', short: 'worst first' },
  { value: 'state', label: 'Connectivity (offline first)', short: 'connectivity' },
  { value: 'alerts', label: 'Open alerts', short: 'open alerts' },
  { value: 'score', label: 'Anomaly score', short: 'anomaly score' },
  { value: 'lastSeen', label: 'Last seen (oldest first)', short: 'last seen' },
  { value: 'name', label: 'Name', short: 'name' },
];

const FIELD_LABELS: Record<keyof FieldMap, string> = {
  time: 'Time',
  alertId: 'Alert id',
  deviceId: 'Device id',
  equipmentId: 'Equipment id',
  rule: 'Rule',
  severity: 'Severity',
  status: 'Status',
  acknowledged: 'Acknowledged',
  message: 'Message',
  summary: 'Summary',
  value: 'Value',
  threshold: 'Threshold',
  state: 'Device state',
  lastSeen: 'Last seen',
  score: 'Anomaly score',
};

export function buildOptions(
  builder: PanelOptionsEditorBuilder<PanelOptions>
): PanelOptionsEditorBuilder<PanelOptions> {
  const d = DEFAULT_OPTIONS;
  builder
    .addRadio({
      path: 'viewMode',
      name: 'View',
      defaultValue: d.viewMode,
      settings: {
        options: [
          { value: 'both', label: 'Equipment + alerts' },
          { value: 'equipment', label: 'Equipment' },
          { value: 'alerts', label: 'Alerts' },
        ],
      },
    })
    .addTextInput({
      path: 'apiUrl',
      name: 'Alert API URL',
      description:
        'Base URL of the MOBY alert API: a Grafana data source proxy path that adds the API token (e.g. /api/datasources/proxy/uid/moby-api; never put the token in the dashboard), or an http(s) URL on another origin written here literally (no variable). Anything else disables acknowledge/resolve, with the reason shown. Empty hides them.',
      defaultValue: d.apiUrl,
      category: ['Actions'],
    })
    .addTextInput({
      path: 'deviceLink',
      name: 'Device dashboard link',
      description: 'URL of a device dashboard; ${device_id}, ${equipment_id} and dashboard variables are replaced.',
      defaultValue: d.deviceLink,
      category: ['Links'],
    })
    .addTextInput({
      path: 'deviceFilter',
      name: 'Device filter',
      description: 'Devices to show, usually a dashboard variable such as $device. Empty or All shows every device.',
      defaultValue: d.deviceFilter,
      category: ['Filters'],
    })
    .addMultiSelect({
      path: 'statusFilter',
      name: 'Alert status shown by default',
      defaultValue: d.statusFilter,
      settings: {
        options: multiOptions<AlertPhase>([
          { value: 'firing', label: 'Firing' },
          { value: 'acknowledged', label: 'Acknowledged' },
          { value: 'resolved', label: 'Resolved' },
        ]),
      },
      category: ['Filters'],
    })
    .addMultiSelect({
      path: 'severityFilter',
      name: 'Severities shown by default',
      defaultValue: d.severityFilter,
      settings: {
        options: multiOptions<Severity>([
          { value: 'critical', label: 'Critical' },
          { value: 'warning', label: 'Warning' },
          { value: 'info', label: 'Info' },
        ]),
      },
      category: ['Filters'],
    })
    .addBooleanSwitch({
      path: 'groupByEquipment',
      name: 'Group alerts by equipment',
      defaultValue: d.groupByEquipment,
      category: ['Alerts'],
    })
    .addSelect({
      path: 'deviceSort',
      name: 'Sort equipment by',
      defaultValue: d.deviceSort,
      settings: { options: DEVICE_SORTS.map(({ value, label }) => ({ value, label })) },
      category: ['Equipment'],
    })
    .addRadio({
      path: 'equipmentLayout',
      name: 'Equipment layout',
      description:
        'Cards show values, trend and links per device; tiles show one square per device grouped per equipment, so thousands fit one screen. Auto: tiles above "Summarise above" devices.',
      defaultValue: d.equipmentLayout,
      settings: {
        options: [
          { value: 'auto', label: 'Auto' },
          { value: 'cards', label: 'Cards' },
          { value: 'tiles', label: 'Tiles' },
        ],
      },
      category: ['Equipment'],
    })
    .addTextInput({
      path: 'valueFields',
      name: 'Measured values on cards',
      description:
        'Comma-separated telemetry fields (or their display names), in order. Empty: the first three numeric fields of frames keyed by device. Units and decimals come from the field config (Standard options → Unit, with overrides per field).',
      defaultValue: d.valueFields,
      category: ['Equipment'],
    })
    .addNumberInput({
      path: 'silentAfter',
      name: 'Silent after (s)',
      description:
        'Show an ONLINE device as silent when its last data is older than this. 0 trusts the reported state.',
      defaultValue: d.silentAfter,
      settings: { min: 0, integer: true },
      category: ['Equipment'],
    })
    .addNumberInput({
      path: 'scoreThreshold',
      name: 'Anomaly threshold',
      description: 'Used when the anomaly data carries no threshold.',
      defaultValue: d.scoreThreshold,
      category: ['Equipment'],
    })
    .addNumberInput({
      path: 'summariseAbove',
      name: 'Summarise above',
      description:
        'With more devices than this, Auto layout shows tiles; as cards, the grid opens on the devices that need attention.',
      defaultValue: d.summariseAbove,
      settings: { min: 1, integer: true },
      category: ['Equipment'],
    })
    .addRadio({
      path: 'density',
      name: 'Density',
      defaultValue: d.density,
      settings: {
        options: [
          { value: 'compact', label: 'Compact' },
          { value: 'comfortable', label: 'Comfortable' },
          { value: 'wall', label: 'Wall display' },
        ],
      },
      category: ['Display'],
    })
    .addSliderInput({
      path: 'fontSize',
      name: 'Font size (%)',
      defaultValue: d.fontSize,
      settings: { min: 60, max: 250, step: 10 },
      category: ['Display'],
    });

  for (const key of Object.keys(DEFAULT_FIELDS) as Array<keyof FieldMap>) {
    builder.addTextInput({
      path: `fields.${key}`,
      name: FIELD_LABELS[key],
      defaultValue: DEFAULT_FIELDS[key],
      category: ['Field mappings'],
    });
  }
  return builder;
}
