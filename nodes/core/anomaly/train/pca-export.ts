// PCA model -> ONNX graph computing T², Q and the per-feature contributions exactly as scorePca does,
// on standardised input (the bundle's meta.scaler carries mean/std, applied by the scorer).
import type { PcaModel } from '../pca';
import { OnnxGraphBuilder } from './onnx-builder';

export const PCA_INPUT = 'x';

export function pcaToOnnx(model: PcaModel): Uint8Array {
  const d = model.mean.length;
  const k = model.components.length;
  if (k === 0 || model.components.some((c) => c.length !== d))
    throw new Error(`PCA model: components must be k × ${d}`);
  if (model.eigenvalues.length !== k)
    throw new Error(`PCA model: ${model.eigenvalues.length} eigenvalues for ${k} components`);
  const g = new OnnxGraphBuilder('moby_pca');
  const z = g.input(PCA_INPUT, ['batch', d]);
  const flatP = model.components.flat();
  const pT = new Float64Array(d * k);
  for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) pT[j * k + c] = model.components[c][j];
  const P = g.constant('P', flatP, [k, d]);
  const invL = g.constant(
    'inv_lambda',
    model.eigenvalues.map((l) => 1 / l),
    [k]
  );
  // t = z Pᵀ; T² = Σ t²/λ (a MatMul with a vector reduces over k without Reduce* ops)
  const t = g.op('MatMul', [z, g.constant('P_T', pT, [d, k])]);
  g.op('MatMul', [g.op('Mul', [t, t]), invL], 't2');
  // Q = ‖z − Pᵀt‖²
  const e = g.op('Sub', [z, g.op('MatMul', [t, P])]);
  const e2 = g.op('Mul', [e, e]);
  g.op('MatMul', [e2, g.constant('ones', new Array(d).fill(1), [d])], 'q');
  // contributions_j = e_j²/qLimit + |z_j · Σ_c P_cj t_c/λ_c| / t2Limit
  const u = g.op('MatMul', [g.op('Mul', [t, invL]), P]);
  const c2 = g.op('Div', [g.op('Abs', [g.op('Mul', [z, u])]), g.constant('t2_limit', [model.t2Limit], [])]);
  const c1 = g.op('Div', [e2, g.constant('q_limit', [model.qLimit], [])]);
  g.op('Add', [c1, c2], 'contributions');
  g.output('t2', ['batch']);
  g.output('q', ['batch']);
  g.output('contributions', ['batch', d]);
  return g.toBytes('PCA T² / Q monitor exported by moby-train');
}
