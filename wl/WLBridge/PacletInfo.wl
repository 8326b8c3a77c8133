(* ::Package:: *)

PacletObject[<|
  "Name" -> "WLBridge",
  "Version" -> "0.1.0",
  "WolframVersion" -> "12.1+",
  "Description" -> "Trained nets (NetChain, NetGraph) as closed-form Functions; the Wolfram side of the wlbridge Python library.",
  "Creator" -> "wlbridge",
  "License" -> "MIT",
  "Extensions" -> {
    {"Kernel", "Root" -> "Kernel", "Context" -> {"WLBridge`"}}
  }
|>]
