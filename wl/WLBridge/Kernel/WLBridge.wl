(* ::Package:: *)

(* WLBridge: trained nets (NetChain, NetGraph) as closed-form Functions.

   Pure part (runs in the Wolfram Engine, Woxi and Mathics3): NetAssociationToFunction works on the
   plain net association (the one NetToPlainData gives and wlbridge writes), with arrays as lists or
   NumericArrays.  Kernel part: NetToFunction, NetToPlainData, ImportPythonNet need the Wolfram
   Engine's neural network framework.

   The code builds Functions from held pieces by pattern substitution into Hold[...] right-hand
   sides, and makes Functions with Apply[Function, Join[Hold[params], Hold[body]]]: the two ways
   that work the same in all three engines (see docs/mathematica.md). *)

BeginPackage["WLBridge`"];

NetAssociationToFunction::usage = "NetAssociationToFunction[assoc, opts] gives a Function that computes the net whose plain \
association is assoc. Options: \"Form\" -> \"Compact\" (one With binding per layer) or \"Expanded\" (one formula per \
output in x1, ..., xn); \"Call\" -> \"List\" (f[{x1, ..., xn}]) or \"Sequence\" (f[x1, ..., xn]); \"InputNames\" -> \
Automatic or a list of symbol names for the scalar inputs.";
NetToFunction::usage = "NetToFunction[net, opts] gives a Function equal to the NetChain or NetGraph net; the options are \
those of NetAssociationToFunction.";
NetToPlainData::usage = "NetToPlainData[net] gives the net association of net (layer types, parameters, NumericArrays, \
ports, edges): what wlbridge reads.";
ImportPythonNet::usage = "ImportPythonNet[file] imports a .wxf or .wlnet file written by wlbridge as a net. \
ImportPythonNet[file, \"Function\", opts] gives its Function instead (no net framework needed for .wxf).";
$WLBridgeActivations::usage = "$WLBridgeActivations is the table of elementwise functions, generated from wlbridge.ops.";

WLBridge::unsupported = "`1`";
WLBridge::badnet = "`1`";
WLBridge::badopt = "`1`";
WLBridge::kernel = "`1` needs the Wolfram Engine's neural network framework (NetChain, NetExtract).";

Begin["`Private`"];

If[!ListQ[$activationRows] && StringQ[$InputFileName] && StringLength[$InputFileName] > 0,
  Get[FileNameJoin[{DirectoryName[$InputFileName], "Activations.wl"}]]];

$WLBridgeActivations := $activationRows;

(* ---------------------------------------------------------------------------------------------
   Small helpers (only constructs that Woxi and Mathics3 evaluate like the Wolfram Engine)      *)

toAssoc[rules_List] := Association[rules];
headName[e_] := With[{h = Head[e]}, If[Head[h] === Symbol, SymbolName[h], None]];
symName[s_] := Which[StringQ[s], s, Head[s] === Symbol, SymbolName[s], True, None];
at[a_, k_] := a[k];
get[a_, k_, d_] := If[AssociationQ[a] && MemberQ[Keys[a], k], a[k], d];
params[node_] := get[node, "Parameters", <||>];
unwrap[v_] := If[headName[v] === "ValidatedParameter" && Length[v] == 1, First[v], v];
joinWith[l_List, sep_String] := If[l === {}, "", Fold[#1 <> sep <> #2 &, First[l], Rest[l]]];
joinPath[parts__] := joinWith[Select[{parts}, # =!= "" &], "/"];
intsQ[l_] := ListQ[l] && And @@ Map[IntegerQ, l];
fail[msg_String] := Throw[msg, $wlbTag];
heldSym[name_String] := ToExpression[name, InputForm, Hold];
ruleH[ph_, Hold[s_]] := (ph :> s);

(* held pieces: pattern substitution into held right-hand sides *)
bindH[Hold[s_], Hold[e_], Hold[b_]] := Hold[With[{s = e}, b]];
pairH[Hold[a_], Hold[b_]] := Hold[{a, b}];
plusH[Hold[a_], Hold[b_]] := Hold[a + b];
mapH[f_, Hold[x_], 0] := Hold[f[x]];
mapH[f_, Hold[x_], 1] := Hold[Map[f, x]];
mapH[f_, Hold[x_], r_] := Hold[Map[f, x, {r}]];
funcH[Hold[v_], Hold[b_]] := Apply[Function, Join[Hold[v], Hold[b]]];

portDims[t_] := Module[{h = headName[t]},
  Which[
    h === "NetEncoder" || h === "NetDecoder", portDims[Last[t]],
    h === "TensorT" && Length[t] == 2 && IntegerQ[t[[1]]] && ListQ[t[[2]]], t[[2]],
    h === "TensorT" && Length[t] == 2 && ListQ[t[[1]]],
      If[intsQ[t[[1]]], Join[t[[1]], portDims[t[[2]]]],
        fail["variable-length or unknown dimensions " <> ToString[t[[1]], InputForm] <> " are not supported"]],
    h === "ChannelT" && Length[t] == 2, Prepend[portDims[t[[2]]], t[[1]]],
    True, {}]];
inDims[node_] := portDims[First[Values[get[node, "Inputs", <|"Input" -> {}|>]]]];
outDims[node_] := portDims[First[Values[get[node, "Outputs", <|"Output" -> {}|>]]]];

array[node_, name_String] := Module[{v = get[get[node, "Arrays", <||>], name, None], n},
  Which[
    v === None || symName[v] === "None", None,
    ListQ[v] || NumericQ[v], v,
    True, n = Normal[v]; If[ListQ[n], n, fail["array " <> name <> " is not numeric"]]]];

(* ---------------------------------------------------------------------------------------------
   Activations: rows generated from wlbridge.ops.ACTIVATIONS; templates parsed when used, so that
   symbols such as Ramp resolve in the caller's context (Mathics3 has no System`Ramp).            *)

(* name -> row, built on first use (the table may be loaded after this file) *)
rowFor[name_String] := (If[!AssociationQ[$rowByName], $rowByName = toAssoc[Flatten[Map[rowRules, $activationRows]]]];
  get[$rowByName, name, None]);
rowRules[row_] := Map[# -> row &, at[row, "Wolfram"]];

rowFunction[row_] := Module[{f = ToExpression["Function[" <> at[row, "Code"] <> "]"], ps = at[row, "Params"]},
  f /. Table[Slot[k + 1] -> ps[[k, 2]], {k, Length[ps]}]];
rowHeld[row_] := Module[{h = ToExpression[at[row, "Code"], InputForm, Hold], ps = at[row, "Params"]},
  h /. Table[Slot[k + 1] -> ps[[k, 2]], {k, Length[ps]}]];

(* a WL function value (symbol, Function, ScalarFunctionObject, named string) -> {listableQ, Function} *)
elementFunction[f0_] := Module[{f = unwrap[f0], name, row},
  name = symName[f];
  row = If[StringQ[name], rowFor[name], None];
  Which[
    AssociationQ[row], {at[row, "Listable"], rowFunction[row], rowHeld[row]},
    headName[f] === "ScalarFunctionObject", {False, scalarFunction[f]},
    Head[f] === Function, {False, f},
    Head[f] === Symbol, {False, f},
    True, fail["function " <> ToString[f, InputForm] <> " has no closed form"]]];

(* ScalarFunctionObject[{ScalarSymbol[1], ...}, out, <|ScalarSymbol[k] -> {op, args...}|>] -> Function *)
scalarFunction[sfo_] := Module[{ins = sfo[[1]], table = sfo[[3]], node},
  node[x_] := Which[
    NumericQ[x], x,
    MemberQ[ins, x], Slot[First[First[Position[ins, x]]]],
    MemberQ[Keys[table], x], ssaOp[at[table, x], node],
    True, fail["ScalarFunctionObject: undefined " <> ToString[x, InputForm]]];
  Apply[Function, {node[sfo[[2]]]}]];
ssaOp[{op_, args___}, node_] := Module[{name = symName[op], row},
  Which[
    name === "Identity", node[args],
    name === "Clip", Clip[node[First[{args}]], Map[node, Last[{args}]]],
    StringQ[op], row = rowFor[op];
      If[AssociationQ[row], rowFunction[row][node[args]], fail["unknown named function " <> op]],
    Head[op] === Symbol, Apply[op, Map[node, {args}]],
    True, fail["ScalarFunctionObject: unknown operation " <> ToString[op, InputForm]]]];

(* compact code of fn applied to the held symbol x of rank r *)
applyFunctionH[{listable_, fn_, held___}, hx_, r_] :=
  If[listable, First[{held}] /. ruleH[Slot[1], hx], mapH[fn, hx, r]];

(* ---------------------------------------------------------------------------------------------
   Layer rules: rule[type, node, path, {Hold[x1], ...}] -> Hold[code] (bound to a fresh symbol),
   alias[Hold[x]] (no new binding) or unsupported[reason].                                      *)

rule[t_, node_, path_, ins_] := unsupported["no rule for this layer type"];
$knownTypes = {"Linear", "Elementwise", "Dropout", "Softmax", "BatchNormalization", "Flatten", "Reshape", "Total",
  "Catenate", "Threading", "Embedding", "Convolution", "Pooling", "BasicRecurrent", "LongShortTermMemory",
  "GatedRecurrent", "SequenceLast", "SequenceReverse", "Padding", "Transpose", "Part", "Replicate", "Aggregation",
  "Normalization", "ConstantPlus", "ConstantTimes", "ConstantArray"};

reshapeH[Hold[x_], {}] := Hold[First[Flatten[x]]];
reshapeH[Hold[x_], {n_}] := Hold[Flatten[x]];
reshapeH[h_, dims_List] := Fold[partitionH, reshapeH[h, {Times @@ dims}], Reverse[Rest[dims]]];
partitionH[Hold[e_], n_] := Hold[Partition[e, n]];

linearH[Hold[x_], w_, b_] := If[b === None, dotH[Hold[x], w], Hold[w . x + b]];
dotH[Hold[x_], w_] := Hold[w . x];
rule["Linear", node_, path_, {hx_}] := Module[{w = array[node, "Weights"], b = array[node, "Biases"],
    ind = inDims[node], outd = outDims[node], xin},
  If[!MatrixQ[w], fail[path <> ": Linear layer without a Weights matrix"]];
  xin = Which[Length[ind] == 1, hx, ind === {}, listOfH[hx], True, flattenH[hx]];
  If[Length[outd] == 1, linearH[xin, w, b], reshapeH[linearH[xin, w, b], outd]]];
listOfH[Hold[x_]] := Hold[{x}];
flattenH[Hold[x_]] := Hold[Flatten[x]];

rule["Elementwise", node_, path_, {hx_}] :=
  applyFunctionH[elementFunction[get[params[node], "Function", None]], hx, Length[inDims[node]]];

rule["Dropout", node_, path_, {hx_}] := alias[hx];

softmaxH[Hold[x_], 1, False] := Hold[Exp[x - Max[x]]/Total[Exp[x - Max[x]]]];
softmaxH[Hold[x_], 1, True] := Hold[Exp[x]/Total[Exp[x]]];
softmaxH[Hold[x_], r_, False] := Hold[Map[Exp[# - Max[#]]/Total[Exp[# - Max[#]]] &, x, {r - 1}]];
softmaxH[Hold[x_], r_, True] := Hold[Map[Exp[#]/Total[Exp[#]] &, x, {r - 1}]];
softmaxFirstH[Hold[x_], a_] := Hold[Map[Transpose[Map[Exp[#]/Total[Exp[#]] &, Transpose[#]]] &, x, {a}]];
rule["Softmax", node_, path_, {hx_}] := Module[{r = Length[inDims[node]], level, a},
  level = get[params[node], "Level", -1];
  If[!IntegerQ[level] || level == 0 || Abs[level] > Max[r, 1], fail[path <> ": bad Softmax level"]];
  a = If[level > 0, level - 1, Max[r, 1] + level];
  Which[
    r <= 1 || a == r - 1, softmaxH[hx, Max[r, 1], TrueQ[$expanded]],
    a == r - 2, softmaxFirstH[hx, a],
    True, unsupported["softmax over a level other than the last two"]]];

scaleShiftH[Hold[x_], k_, c_, 0] := Hold[k x + c];
scaleShiftH[Hold[x_], k_, c_, r_] := Hold[Map[k # + c &, x, {r}]];
rule["BatchNormalization", node_, path_, {hx_}] := Module[{p = params[node], s, b, m, v, eps, k, r},
  s = array[node, If[MemberQ[Keys[get[node, "Arrays", <||>]], "Scaling"], "Scaling", "Gamma"]];
  b = array[node, If[MemberQ[Keys[get[node, "Arrays", <||>]], "Biases"], "Biases", "Beta"]];
  m = array[node, "MovingMean"]; v = array[node, "MovingVariance"];
  eps = get[p, "Epsilon", 0.001];
  If[b === None, b = 0. m];
  k = s/Sqrt[v + eps];
  r = Length[inDims[node]];
  scaleShiftH[hx, k, b - m k, If[symName[get[p, "Interleaving", False]] === "True", Max[r - 1, 0], 0]]];

rule["Flatten", node_, path_, {hx_}] := With[{level = get[params[node], "Level", Infinity]},
  If[symName[level] === "Infinity" || headName[level] === "DirectedInfinity",
    flattenH[hx], reshapeH[hx, outDims[node]]]];
rule["Reshape", node_, path_, {hx_}] := reshapeH[hx, outDims[node]];

rule["Total", node_, path_, ins_] := Fold[plusH, First[ins], Rest[ins]];

catenateH[Hold[a_], Hold[b_], 0] := Hold[Join[a, b]];
catenateH[Hold[a_], Hold[b_], k_] := Hold[MapThread[Join, {a, b}, k]];
rule["Catenate", node_, path_, ins_] := Module[{level = get[params[node], "Level", 1], r = Length[outDims[node]]},
  If[!IntegerQ[level] || level == 0, fail[path <> ": bad Catenate level"]];
  Fold[catenateH[#1, #2, If[level > 0, level - 1, r + level]] &, First[ins], Rest[ins]]];

threadH[Hold[a_], Hold[b_], "Plus", _] := Hold[a + b];
threadH[Hold[a_], Hold[b_], "Times", _] := Hold[a b];
threadH[Hold[a_], Hold[b_], "Subtract", _] := Hold[a - b];
threadH[Hold[a_], Hold[b_], "Divide", _] := Hold[a/b];
threadH[Hold[a_], Hold[b_], "Power", _] := Hold[a^b];
threadH[Hold[a_], Hold[b_], f_, 0] := Hold[f[a, b]];
threadH[Hold[a_], Hold[b_], f_, r_] := Hold[MapThread[f, {a, b}, r]];
rule["Threading", node_, path_, ins_] := Module[{f = unwrap[get[params[node], "Function", None]],
    r = Length[outDims[node]], name},
  name = symName[f];
  Which[
    MemberQ[{"Plus", "Times", "Subtract", "Divide", "Power"}, name], Fold[threadH[#1, #2, name, r] &, First[ins], Rest[ins]],
    MemberQ[{"Min", "Max"}, name], Fold[threadH[#1, #2, f, r] &, First[ins], Rest[ins]],
    Length[ins] == 2, threadH[ins[[1]], ins[[2]], elementFunction[f][[2]], r],
    True, unsupported["Threading of a custom function over " <> ToString[Length[ins]] <> " inputs"]]];

rule["Embedding", node_, path_, {Hold[x_]}] := Module[{w = array[node, "Weights"]},
  If[TrueQ[$expanded], unsupported["Embedding has no closed form in its (integer) inputs: use \"Form\" -> \"Compact\""],
    embedH[Hold[x], w]]];
embedH[Hold[x_], w_] := Hold[w[[x]]];

(* Convolution and Pooling: Table over output channels and positions; see convolution.md-style notes
   in docs/mathematica.md.  Spatial rank 1, 2 or 3, channels first. *)
spatial[node_, path_] := Module[{p = params[node], n, pad},
  If[symName[get[p, "Interleaving", False]] === "True", fail[path <> ": Interleaving -> True is not supported"]];
  n = Length[inDims[node]] - 1;
  If[n < 1 || n > 3, fail[path <> ": spatial rank " <> ToString[n] <> " is not supported"]];
  pad = get[p, "PaddingSize", 0];
  pad = Which[IntegerQ[pad], Table[{pad, pad}, {n}], intsQ[pad], Map[{#, #} &, pad], True, pad];
  <|"n" -> n, "Stride" -> ints[get[p, "Stride", 1], n], "Dilation" -> ints[get[p, "Dilation", 1], n],
    "Pad" -> pad, "In" -> inDims[node], "Out" -> outDims[node]|>];
ints[v_, n_] := If[IntegerQ[v], Table[v, {n}], v];

padH[hx_, pad_, dims_] := If[Max[Abs[Flatten[pad]]] == 0, hx,
  padLR[hx, dims + Prepend[pad[[All, 1]], 0], dims + Prepend[pad[[All, 1]] + pad[[All, 2]], 0]]];
padLR[Hold[x_], a_, b_] := Hold[PadRight[PadLeft[x, a], b]];

(* the index span of window i along one axis: start s (i - 1) + 1, extent e, step d *)
spanH[Hold[i_], 1, e_, 1] := Hold[i ;; i + e];
spanH[Hold[i_], s_, e_, 1] := Hold[s i - (s - 1) ;; s i - (s - 1) + e];
spanH[Hold[i_], 1, e_, d_] := Hold[i ;; i + e ;; d];
spanH[Hold[i_], s_, e_, d_] := Hold[s i - (s - 1) ;; s i - (s - 1) + e ;; d];
chanH[Hold[o_], 1, cg_, og_] := Hold[All];
chanH[Hold[o_], g_, cg_, og_] := Hold[cg Quotient[o - 1, og] + 1 ;; cg Quotient[o - 1, og] + cg];

(* flat arguments only: Woxi 0.3 does not bind pattern variables inside {Hold[s_], ...} list patterns *)
convH[Hold[x_], w_, Hold[c_], Hold[s1_], Hold[o_], Hold[i_], n0_, n1_] :=
  Hold[Table[Total[w[[o]] x[[c, s1]], Infinity], {o, n0}, {i, n1}]];
convH[Hold[x_], w_, Hold[c_], Hold[s1_], Hold[s2_], Hold[o_], Hold[i_], Hold[j_], n0_, n1_, n2_] :=
  Hold[Table[Total[w[[o]] x[[c, s1, s2]], Infinity], {o, n0}, {i, n1}, {j, n2}]];
convH[Hold[x_], w_, Hold[c_], Hold[s1_], Hold[s2_], Hold[s3_], Hold[o_], Hold[i_], Hold[j_], Hold[l_],
    n0_, n1_, n2_, n3_] :=
  Hold[Table[Total[w[[o]] x[[c, s1, s2, s3]], Infinity], {o, n0}, {i, n1}, {j, n2}, {l, n3}]];
biasH[h_, b_] := If[b === None, h, plusConstH[h, b]];
plusConstH[Hold[e_], b_] := Hold[e + b];

iterators[n_] := Map[heldSym, Take[{"o", "i", "j", "l"}, n + 1]];

rule["Convolution", node_, path_, {hx_}] := Module[{g = spatial[node, path], w = array[node, "Weights"], groups,
    its, spans, xp},
  If[!ArrayQ[w] || ArrayDepth[w] != at[g, "n"] + 2, fail[path <> ": Convolution Weights have the wrong rank"]];
  groups = get[params[node], "ChannelGroups", get[params[node], "$GroupNumber", 1]];
  its = iterators[at[g, "n"]];
  spans = Table[spanH[its[[k + 1]], at[g, "Stride"][[k]], at[g, "Dilation"][[k]] (Dimensions[w][[k + 2]] - 1),
    at[g, "Dilation"][[k]]], {k, at[g, "n"]}];
  xp = padH[hx, at[g, "Pad"], at[g, "In"]];
  biasH[Apply[convH, Join[{xp, w, chanH[First[its], groups, Dimensions[w][[2]], Quotient[First[Dimensions[w]], groups]]},
    spans, its, at[g, "Out"]]], array[node, "Biases"]]];

poolH[Hold[x_], f_, Hold[s1_], Hold[c_], Hold[i_], n0_, n1_] := Hold[Table[f[x[[c, s1]]], {c, n0}, {i, n1}]];
poolH[Hold[x_], f_, Hold[s1_], Hold[s2_], Hold[c_], Hold[i_], Hold[j_], n0_, n1_, n2_] :=
  Hold[Table[f[x[[c, s1, s2]]], {c, n0}, {i, n1}, {j, n2}]];
poolH[Hold[x_], f_, Hold[s1_], Hold[s2_], Hold[s3_], Hold[c_], Hold[i_], Hold[j_], Hold[l_], n0_, n1_, n2_, n3_] :=
  Hold[Table[f[x[[c, s1, s2, s3]]], {c, n0}, {i, n1}, {j, n2}, {l, n3}]];
pool[hx_, f_, spans_, its_, out_] := Apply[poolH, Join[{hx, f}, spans, its, out]];

(* pooling windows are clipped to the input (padding never wins a Max; Mean counts what the net counts) *)
clipSpanH[Hold[i_], s_, k_, lo_, size_] := Hold[Max[1, s i - s + 1 - lo] ;; Min[size, s i - s + k - lo]];
rule["Pooling", node_, path_, {hx_}] := Module[{g = spatial[node, path], p = params[node], kind, kernel, its, spans,
    body, counts},
  kind = symName[unwrap[get[p, "Function", Max]]];
  kernel = If[symName[get[p, "$MXGlobalPool", False]] === "True", Rest[at[g, "In"]], ints[get[p, "KernelSize", 1], at[g, "n"]]];
  its = iterators[at[g, "n"]];
  spans = Table[clipSpanH[its[[k + 1]], at[g, "Stride"][[k]], kernel[[k]], at[g, "Pad"][[k, 1]], at[g, "In"][[k + 1]]], {k, at[g, "n"]}];
  Switch[kind,
    "Max", pool[hx, Max, spans, its, at[g, "Out"]],
    "Total", pool[hx, Total[#, Infinity] &, spans, its, at[g, "Out"]],
    "Mean",
      counts = poolCounts[g, kernel, symName[get[p, "$IgnorePadding", False]] =!= "True"];
      divideH[pool[hx, Total[#, Infinity] &, spans, its, at[g, "Out"]], counts],
    _, unsupported["pooling function " <> ToString[kind]]]];
divideH[Hold[e_], c_] := Hold[Map[#/c &, e]];

(* Sequence layers (documented equations; zero initial state): FoldList of one step over the sequence.
   The state's Part comes first in products: Woxi 0.3 misparses "f[a] s[[2]]". *)
gateArrays[node_, gates_, suffix_] := Map[array[node, # <> suffix] &, gates];
rnnH[Hold[x_], wx_, ws_, b_, act_] := Hold[Rest[FoldList[act[wx . #2 + ws . #1 + b] &, 0. b, x]]];
rule["BasicRecurrent", node_, path_, {hx_}] := With[{act = unwrap[get[params[node], "Activation", Tanh]]},
  rnnH[hx, array[node, "InputWeights"], array[node, "StateWeights"], array[node, "Biases"],
    If[symName[act] === "Ramp", Ramp, Tanh]]];
lstmH[Hold[x_], {wi_, wo_, wf_, wm_}, {ui_, uo_, uf_, um_}, {bi_, bo_, bf_, bm_}] :=
  Hold[Map[First, Rest[FoldList[Function[{s, xt}, With[{c = s[[2]] LogisticSigmoid[wf . xt + uf . s[[1]] + bf] +
      LogisticSigmoid[wi . xt + ui . s[[1]] + bi] Tanh[wm . xt + um . s[[1]] + bm]},
      {LogisticSigmoid[wo . xt + uo . s[[1]] + bo] Tanh[c], c}]], {0. bi, 0. bi}, x]]]];
rule["LongShortTermMemory", node_, path_, {hx_}] := With[{g = {"InputGate", "OutputGate", "ForgetGate", "MemoryGate"}},
  lstmH[hx, gateArrays[node, g, "InputWeights"], gateArrays[node, g, "StateWeights"], gateArrays[node, g, "Biases"]]];
gruH[Hold[x_], {wi_, wr_, wm_}, {ui_, ur_, um_}, {bi_, br_, bm_}] :=
  Hold[Rest[FoldList[Function[{s, xt}, With[{i = LogisticSigmoid[wi . xt + ui . s + bi],
      r = LogisticSigmoid[wr . xt + ur . s + br]}, (1 - i) Tanh[wm . xt + r (um . s) + bm] + i s]], 0. bi, x]]];
rule["GatedRecurrent", node_, path_, {hx_}] := With[{g = {"InputGate", "ResetGate", "MemoryGate"}},
  gruH[hx, gateArrays[node, g, "InputWeights"], gateArrays[node, g, "StateWeights"], gateArrays[node, g, "Biases"]]];
lastH[Hold[x_]] := Hold[Last[x]];
reverseH[Hold[x_]] := Hold[Reverse[x]];
rule["SequenceLast", node_, path_, {hx_}] := lastH[hx];
rule["SequenceReverse", node_, path_, {hx_}] := reverseH[hx];

(* Padding (a number, "Fixed", "Reflected" or "Periodic") and Transpose (WL's permutation convention) *)
padH[Hold[x_], d_, pads_, v_] := With[{lo = d + pads[[All, 1]], full = d + Total[pads, {2}]},
  Hold[PadRight[PadLeft[x, lo, v], full, v]]];
padIndex[n_, {lo_, hi_}, "Fixed"] := Clip[Range[1 - lo, n + hi], {1, n}];
padIndex[n_, {lo_, hi_}, "Periodic"] := Mod[Range[1 - lo, n + hi] - 1, n] + 1;
padIndex[n_, {lo_, hi_}, "Reflected"] := Map[Which[# < 1, 2 - #, # > n, 2 n - #, True, #] &, Range[1 - lo, n + hi]];
partsH[Hold[x_], idx_] := Hold[Part @@ Prepend[idx, x]];
rule["Padding", node_, path_, {hx_}] := Module[{p = params[node], d = inDims[node], pads, v},
  pads = get[p, "PaddingSize", {}]; v = unwrap[get[p, "Padding", 0.]];
  If[!MatrixQ[pads] || Length[pads] != Length[d], fail[path <> ": bad PaddingSize"]];
  Which[
    NumericQ[v], padH[hx, d, pads, N[v]],
    MemberQ[{"Fixed", "Reflected", "Periodic"}, v],
      partsH[hx, Table[padIndex[d[[k]], pads[[k]], v], {k, Length[d]}]],
    True, unsupported["Padding -> " <> ToString[v, InputForm]]]];
transposeH[Hold[x_], s_] := Hold[Transpose[x, s]];
rule["Transpose", node_, path_, {hx_}] := With[{s = unwrap[get[params[node], "Specification", None]]},
  If[ListQ[s], transposeH[hx, s], unsupported["transposition other than a permutation list"]]];
(* Part (All, i, {i1, ...} or m;;n per level), Replicate (n at level 1), Aggregation and Normalization
   (levels brought to the end by Transpose, each block of the kept levels reduced), constants *)
rule["Part", node_, path_, {hx_}] := With[{s = unwrap[get[params[node], "Specification", None]]},
  partsH[hx, If[ListQ[s], s, {s}]]];
replicateH[Hold[x_], n_] := Hold[Table[x, {n}]];
rule["Replicate", node_, path_, {hx_}] := With[{p = params[node]}, With[{n = unwrap[get[p, "Specification", None]]},
  If[IntegerQ[n] && get[p, "Level", 1] === 1, replicateH[hx, n], unsupported["replication other than n at level 1"]]]];
levelList[spec_, r_] := Which[spec === None || headName[spec] === "Span", Range[2, r],
  IntegerQ[spec], {If[spec > 0, spec, r + 1 + spec]}, True, Map[If[# > 0, #, r + 1 + #] &, spec]];
blocksH[Hold[x_], f_, perm_, k_] := If[k == 0, Hold[f[Flatten[x]]], Hold[Map[f[Flatten[#]] &, Transpose[x, perm], {k}]]];
rule["Aggregation", node_, path_, {hx_}] := Module[{p = params[node], r = Length[inDims[node]], lv, kept, f},
  lv = levelList[unwrap[get[p, "Levels", None]], r]; kept = Complement[Range[r], lv];
  f = symName[unwrap[get[p, "Function", Max]]];
  If[!MemberQ[{"Max", "Mean", "Total"}, f], unsupported["aggregation function " <> ToString[f]],
    blocksH[hx, Symbol[f], Ordering[Join[kept, lv]], Length[kept]]]];
normH[Hold[x_], perm_, k_, eps_, s_, b_] :=
  Hold[Transpose[s Map[With[{m = Mean[Flatten[#]]}, (# - m)/Sqrt[Mean[Flatten[(# - m)^2]] + eps]] &,
    Transpose[x, perm], {k}] + b, Ordering[perm]]];
rule["Normalization", node_, path_, {hx_}] := Module[{p = params[node], r = Length[inDims[node]], lv, kept},
  lv = levelList[unwrap[get[p, "AggregationLevels", None]], r]; kept = Complement[Range[r], lv];
  If[Length[kept] == 0 || !MemberQ[{"Complement", None}, unwrap[get[p, "ScalingLevels", "Complement"]]],
    unsupported["Normalization over all levels or with ScalingLevels other than the complement"],
    normH[hx, Ordering[Join[kept, lv]], Length[kept], N[get[p, "Epsilon", 0.001]],
      Replace[array[node, "Scaling"], None -> 1.], Replace[array[node, "Biases"], None -> 0.]]]];
timesConstH[Hold[e_], c_] := Hold[c e];
rule["ConstantPlus", node_, path_, {hx_}] := plusConstH[hx, array[node, "Biases"]];
rule["ConstantTimes", node_, path_, {hx_}] := timesConstH[hx, array[node, "Scaling"]];
constantH[a_] := Hold[a];
rule["ConstantArray", node_, path_, {}] := constantH[array[node, "Array"]];
poolCounts[g_, kernel_, includePad_] := Module[{axis},
  axis[k_] := Table[With[{a = at[g, "Stride"][[k]] (i - 1) + 1 - at[g, "Pad"][[k, 1]]},
      If[includePad, Min[a + kernel[[k]] - 1, at[g, "In"][[k + 1]] + at[g, "Pad"][[k, 2]]] - a + 1,
        Min[a + kernel[[k]] - 1, at[g, "In"][[k + 1]]] - Max[a, 1] + 1]],
    {i, at[g, "Out"][[k + 1]]}];
  1. Fold[Outer[Times, #1, #2] &, axis[1], Table[axis[k], {k, 2, at[g, "n"]}]]];

(* ---------------------------------------------------------------------------------------------
   The walk over containers: nodes in topological order, each port's value a held expression     *)

pathList[p_] := Which[ListQ[p], p, headName[p] === "NetPath", List @@ p,
  True, fail["edge end is not a NetPath: " <> ToString[p, InputForm]]];
pathKey[p_] := StringJoin[Riffle[pathList[p], "/"]];  (* >= 2 parts: Mathics3's Riffle pads 1-element lists *)

edgeTable[node_] := Module[{edges = get[node, "Edges", None], prev, nodes = at[node, "Nodes"], rules = {}},
  If[edges =!= None,
    toAssoc[Map[pathKey[First[#]] -> If[ListQ[Last[#]], Map[pathList, Last[#]], pathList[Last[#]]] &, edges]],
    prev = {"Inputs", First[Keys[at[node, "Inputs"]]]};
    Do[rules = Join[rules, {pathKey[{"Nodes", n, "Inputs", First[Keys[at[at[nodes, n], "Inputs"]]]}] -> prev}];
      prev = {"Nodes", n, "Outputs", First[Keys[at[at[nodes, n], "Outputs"]]]}, {n, Keys[nodes]}];
    toAssoc[Append[rules, pathKey[{"Outputs", First[Keys[at[node, "Outputs"]]]}] -> prev]]]];

source[src_, ins_, done_, path_] := Which[
  src === None, fail[path <> ": a port has no edge feeding it"],
  ListQ[src] && ListQ[First[src]], Map[source[#, ins, done, path] &, src],
  Length[src] == 2 && First[src] === "Inputs",
    If[MemberQ[Keys[ins], src[[2]]], at[ins, src[[2]]], fail[path <> ": unknown input " <> src[[2]]]],
  Length[src] == 4 && First[src] === "Nodes",
    If[MemberQ[Keys[done], src[[2]]],
      If[MemberQ[Keys[at[done, src[[2]]]], src[[4]]], at[at[done, src[[2]]], src[[4]]], fail[path <> ": unknown port"]],
      $pending],
  True, fail[path <> ": unsupported edge source " <> ToString[src, InputForm]]];

container[node_, path_, ins_] := Module[{nodes = get[node, "Nodes", None], edges, done = <||>, pending, progress,
    sub, portIns},
  If[!AssociationQ[nodes], fail[path <> ": container without Nodes"]];
  edges = edgeTable[node];
  pending = Keys[nodes];
  While[pending =!= {},
    progress = {};
    Do[
      sub = joinPath[path, "Nodes", n];
      portIns = Map[# -> source[get[edges, pathKey[{"Nodes", n, "Inputs", #}], None], ins, done, sub] &,
        Keys[get[at[nodes, n], "Inputs", <||>]]];
      If[FreeQ[portIns, $pending],
        done = Append[done, n -> walk[at[nodes, n], sub, toAssoc[portIns]]]; AppendTo[progress, n]],
      {n, pending}];
    If[progress === {}, fail[path <> ": nodes " <> ToString[pending, InputForm] <> " are never fed"]];
    pending = Select[pending, !MemberQ[progress, #] &]];
  toAssoc[Map[# -> source[get[edges, pathKey[{"Outputs", #}], None], ins, done, path] &, Keys[at[node, "Outputs"]]]]];

multiport[ins_] := Module[{keys = Keys[ins]},
  If[Length[keys] == 1 && ListQ[First[Values[ins]]], First[Values[ins]],
    Map[at[ins, #] &, If[And @@ Map[DigitQ, keys], SortBy[keys, ToExpression], keys]]]];

walk[node_, path_, ins_] := Module[{type = get[node, "Type", None], outs, res, h},
  If[!AssociationQ[node], fail[path <> ": node is not an association"]];
  outs = Keys[get[node, "Outputs", <||>]];
  Which[
    type === "Chain" || type === "Graph", container[node, path, ins],
    type === "Function", walk[get[params[node], "Net", None], joinPath[path, "Parameters/Net"], ins],
    !FreeQ[Values[ins], $bad],
      If[!MemberQ[$knownTypes, type], AppendTo[$unsupported, path <> " (" <> ToString[type] <> "): no rule for this layer type"]];
      toAssoc[Map[# -> $bad &, outs]],
    True,
      res = Catch[rule[type, node, path, multiport[ins]], $wlbTag];
      If[StringQ[res], res = unsupported[res]];
      Which[
        Head[res] === unsupported, AppendTo[$unsupported, path <> " (" <> ToString[type] <> "): " <> First[res]];
          toAssoc[Map[# -> $bad &, outs]],
        Head[res] === alias, toAssoc[{First[outs] -> First[res]}],
        True, $count++; h = heldSym["h" <> ToString[$count]]; AppendTo[$bindings, {h, res}];
          toAssoc[{First[outs] -> h}]]]];

(* ---------------------------------------------------------------------------------------------
   Ports, encoders and decoders (as wlbridge's Python front end treats them)                    *)

portSymbolNames[ports_] := If[Length[ports] == 1, {"x"},
  With[{base = Map["in" <> StringJoin[Select[Characters[#], LetterQ[#] || DigitQ[#] &]] &, ports]},
    (* ports whose letters agree ("a_b", "ab") get their position as well: distinct symbols *)
    If[Length[Union[base]] == Length[base], base, MapIndexed[#1 <> "v" <> ToString[First[#2]] &, base]]]];

inputValue[port_, t_, hx_] := Module[{kind, ps, dims = portDims[t], h = hx, mean, var},
  If[headName[t] =!= "NetEncoder", Return[hx]];
  kind = t[[1]]; ps = If[Length[t] > 2 && AssociationQ[t[[2]]], t[[2]], <||>];
  Switch[kind,
    "Scalar" | "Boolean", If[dims === {}, hx, bindValue[reshapeH[listOfH[hx], dims]]],
    "Image",
      mean = get[ps, "MeanImage", None]; var = get[ps, "VarianceImage", None];
      If[MemberQ[{"None", "Automatic"}, symName[mean]], mean = None];
      If[MemberQ[{"None", "Automatic"}, symName[var]], var = None];
      If[symName[get[ps, "Interleaving", False]] === "True", fail["Inputs/" <> port <> ": interleaved images are not supported"]];
      If[mean =!= None || var =!= None,
        h = bindValue[scaleShiftH[hx, If[var === None, 1., 1./Sqrt[var]],
          -If[mean === None, 0., mean] If[var === None, 1., 1./Sqrt[var]], 0]]];
      h,
    _, fail["Inputs/" <> port <> ": NetEncoder[" <> ToString[kind, InputForm] <> "] is not supported"]]];
bindValue[e_] := Module[{h}, $count++; h = heldSym["h" <> ToString[$count]]; AppendTo[$bindings, {h, e}]; h];

outputValue[t_, hv_] := If[headName[t] === "NetDecoder" && t[[1]] === "Scalar", reshapeH[hv, {}], hv];

(* {inputs: {{port, dims, Hold[symbol]}}, outputs: Hold[body value], bindings} for one net association *)
compileNet[assoc0_] := Module[{assoc = assoc0, inPorts, ins, outs, outVals},
  If[!AssociationQ[assoc] || !StringQ[get[assoc, "Type", None]], fail["not a net association with a \"Type\""]];
  If[!MemberQ[{"Chain", "Graph"}, at[assoc, "Type"]],
    assoc = toAssoc[{"Type" -> "Chain", "Nodes" -> toAssoc[{"1" -> assoc}], "Inputs" -> at[assoc, "Inputs"],
      "Outputs" -> at[assoc, "Outputs"]}]];
  inPorts = Keys[get[assoc, "Inputs", <||>]];
  If[inPorts === {}, fail["the net has no inputs"]];
  ins = MapThread[{#1, portDims[at[at[assoc, "Inputs"], #1]], heldSym[#2], #2} &,
    {inPorts, portSymbolNames[inPorts]}];
  outs = walk[assoc, "", toAssoc[Map[#[[1]] -> inputValue[#[[1]], at[at[assoc, "Inputs"], #[[1]]], #[[3]]] &, ins]]];
  If[$unsupported =!= {}, fail[ToString[Length[$unsupported]] <> " unsupported layer(s): " <>
    joinWith[$unsupported, "; "]]];
  outVals = Map[outputValue[at[at[assoc, "Outputs"], #], at[outs, #]] &, Keys[at[assoc, "Outputs"]]];
  {ins, If[Length[outVals] == 1, First[outVals], assocH[Keys[at[assoc, "Outputs"]], outVals]]}];
assocH[keys_, vals_] := Fold[assocAddH[#1, keys[[#2]], vals[[#2]]] &, Hold[<||>], Range[Length[keys]]];
assocAddH[Hold[a_], k_, Hold[v_]] := Hold[Append[a, k -> v]];

(* ---------------------------------------------------------------------------------------------
   Public pure part                                                                             *)

Options[NetAssociationToFunction] = {"Form" -> "Compact", "Call" -> "List", "InputNames" -> Automatic};

NetAssociationToFunction[assoc_, opts : OptionsPattern[]] := Module[{form = OptionValue["Form"],
    call = OptionValue["Call"], names = OptionValue["InputNames"], res},
  res = Catch[
    If[!MemberQ[{"Compact", "Expanded"}, form], fail["\"Form\" must be \"Compact\" or \"Expanded\""]];
    If[!MemberQ[{"List", "Sequence"}, call], fail["\"Call\" must be \"List\" or \"Sequence\""]];
    Block[{$count = 0, $bindings = {}, $unsupported = {}, $expanded = form === "Expanded"},
      If[form === "Compact", compactFunction[assoc, call, names], expandedFunction[assoc, call, names]]],
    $wlbTag];
  If[StringQ[res], Message[WLBridge::badnet, res]; $Failed, res]];

scalarNames[ins_, names_] := Module[{n = Total[Map[Times @@ #[[2]] &, ins]]},
  Which[
    names === Automatic, Table["x" <> ToString[k], {k, n}],
    ListQ[names] && Length[names] == n && Length[Union[names]] == n &&
      And @@ Map[freeNameQ[#, Map[Last, ins]] &, names], names,
    True, fail["\"InputNames\" must be Automatic or a list of " <> ToString[n] <> " distinct symbol names, none " <>
      "a System` symbol or one of the function's own (the port symbols, h1, h2, ..., o, i, j, l)"]]];
(* a name the Function may bind: a plain symbol name, not a System` symbol (single capitals are refused too:
   some engines lack C, K, O) and not one of the locals the Function itself binds *)
freeNameQ[s_, ports_] := StringQ[s] && StringMatchQ[s, RegularExpression["[A-Za-z$][A-Za-z0-9$]*"]] &&
  Names["System`" <> s] === {} && !MemberQ[ports, s] && !StringMatchQ[s, RegularExpression["[A-Z]|h\\d+|[oijl]|wlb.*"]];

(* "{{x1, x2}, {x3, x4}}" for names {x1, ..., x4} and dims {2, 2} *)
nestText[names_, {}] := First[names];
nestText[names_, {_}] := "{" <> joinWith[names, ", "] <> "}";
nestText[names_, dims_] := With[{step = Times @@ Rest[dims]},
  "{" <> joinWith[Table[nestText[names[[(k - 1) step + 1 ;; k step]], Rest[dims]], {k, First[dims]}], ", "] <> "}"];
splitNames[ins_, names_] := Module[{k = 0},
  Map[With[{n = Times @@ #[[2]]}, k += n; names[[k - n + 1 ;; k]]] &, ins]];

compactFunction[assoc_, call_, names_] := Module[{c = compileNet[assoc], ins, out, body, scalars, parts},
  ins = First[c]; out = Last[c];
  body = Fold[bindH[#2[[1]], #2[[2]], #1] &, out, Reverse[$bindings]];
  If[call === "List", funcH[heldSym["{" <> joinWith[Map[#[[4]] &, ins], ", "] <> "}"], body],
    scalars = scalarNames[ins, names];
    parts = splitNames[ins, scalars];
    body = Fold[bindH[#2[[1]], heldSym[nestText[#2[[2]], #2[[3]]]], #1] &, body,
      Reverse[Table[{ins[[k, 3]], parts[[k]], ins[[k, 2]]}, {k, Length[ins]}]]];
    funcH[heldSym["{" <> joinWith[scalars, ", "] <> "}"], body]]];

expandedFunction[assoc_, call_, names_] := Module[{f, ins, scalars, ph, args, res, inner, k = 0},
  f = compactFunction[assoc, "List", Automatic];
  ins = compileNetInputs[assoc];
  scalars = scalarNames[ins, names];
  ph = Array[wlbScalar, Length[scalars]];
  args = Map[With[{n = Times @@ #[[2]]}, k += n; reshapeValue[ph[[k - n + 1 ;; k]], #[[2]]]] &, ins];
  res = Apply[f, args];
  res = Apply[Hold, {res}] /. Table[ruleH[ph[[i]], heldSym[scalars[[i]]]], {i, Length[ph]}];
  inner = funcH[heldSym["{" <> joinWith[scalars, ", "] <> "}"], res];
  If[call === "Sequence", inner,
    funcH[heldSym["{" <> joinWith[Map[#[[4]] &, ins], ", "] <> "}"],
      Apply[applyFlatH, Prepend[Map[#[[3]] &, ins], inner]]]]];
compileNetInputs[assoc_] := Block[{$count = 0, $bindings = {}, $unsupported = {}}, First[compileNet[assoc]]];
reshapeValue[v_, {}] := First[v];
reshapeValue[v_, {_}] := v;
reshapeValue[v_, dims_] := Fold[Partition, v, Reverse[Rest[dims]]];
applyFlatH[f_, Hold[x_]] := Hold[Apply[f, Flatten[{x}]]];
applyFlatH[f_, Hold[x_], Hold[y_]] := Hold[Apply[f, Join[Flatten[{x}], Flatten[{y}]]]];
applyFlatH[f_, hs__] := fail["\"Call\" -> \"List\" with \"Form\" -> \"Expanded\" supports at most two input ports"];

(* ---------------------------------------------------------------------------------------------
   Kernel part: needs NetChain / NetGraph objects (the Wolfram Engine's neural network framework).
   In Woxi and Mathics3 these definitions load but never match a net; calling them gives a message. *)

netQ[net_] := MemberQ[{"NetChain", "NetGraph"}, symName[Head[net]]] || StringQ[symName[Head[net]]] &&
  StringLength[symName[Head[net]]] > 5 && StringTake[symName[Head[net]], -5] === "Layer";

Options[NetToFunction] = Options[NetAssociationToFunction];
NetToFunction[net_?netQ, opts : OptionsPattern[]] := With[{d = NetToPlainData[net]},
  If[AssociationQ[d], NetAssociationToFunction[d, opts], $Failed]];
NetToFunction[net_, opts : OptionsPattern[]] := (Message[WLBridge::kernel, "NetToFunction"]; $Failed);

NetToPlainData[net_?netQ] := Module[{d = Quiet[NeuralNetworks`NData[net]]},
  If[!AssociationQ[d], d = Replace[net, {_[a_Association, ___] :> a, _ -> $Failed}]];
  If[AssociationQ[d], d, Message[WLBridge::badnet, "cannot read the net association of " <> ToString[Head[net]]]; $Failed]];
NetToPlainData[net_] := (Message[WLBridge::kernel, "NetToPlainData"]; $Failed);

ImportPythonNet[file_String] := Import[file];
ImportPythonNet[file_String, "Function", opts : OptionsPattern[NetAssociationToFunction]] := Module[{e},
  e = If[StringMatchQ[file, "*.wxf"] || StringMatchQ[file, "*.WXF"],
    Quiet[BinaryDeserialize[ReadByteArray[file], Hold]], $Failed];
  e = Replace[e, {Hold[_[a_Association, ___]] :> a, Hold[a_Association] :> a, _ :> NetToPlainData[Import[file]]}];
  If[AssociationQ[e], NetAssociationToFunction[e, opts], $Failed]];

End[];

EndPackage[];
