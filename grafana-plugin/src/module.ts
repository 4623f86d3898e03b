import { PanelPlugin } from '@grafana/data';
import { EquipmentPanel } from './components/EquipmentPanel';
import { buildOptions } from './options';
import { PanelOptions } from './types';

export const plugin = new PanelPlugin<PanelOptions>(EquipmentPanel).setPanelOptions(buildOptions);
